"""The service application factory: every service's FastAPI app is assembled the same way.

A service hands over its settings, routers, database models and background components; the factory
adds authentication, problem+json errors, request ids, metrics, health endpoints, migrations at
start-up (embedded default), the outbox relay, and the service's consumers.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dsw_kit import migrations
from dsw_kit.auth import Authenticator
from dsw_kit.db import Database
from dsw_kit.errors import PROBLEM_JSON, install_problem_handlers, problem_responses
from dsw_kit.events import EventPublisher, OutboxMixin, OutboxRelay, broker_reachable
from dsw_kit.logging import configure_logging
from dsw_kit.observability import RequestMiddleware
from dsw_kit.settings import ServiceSettings

__all__ = [
    "Background",
    "BackgroundGroup",
    "ServiceRuntime",
    "ServiceSpec",
    "create_service_app",
    "get_runtime",
]

logger = logging.getLogger("dsw.app")


class Background(Protocol):
    """Something that runs beside the API (a consumer, a reconciler): started and stopped."""

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


@dataclass
class ServiceRuntime:
    """What a running service holds: its settings, database, authenticator and publisher."""

    settings: ServiceSettings
    database: Database
    authenticator: Authenticator
    publisher: EventPublisher
    relay: OutboxRelay | None = None
    background: list[Background] = field(default_factory=list)


@dataclass
class ServiceSpec:
    """How to assemble one service."""

    name: str
    title: str
    version: str
    settings: ServiceSettings
    routers: Sequence[APIRouter]
    outbox_model: type[OutboxMixin]
    migrations_path: Path
    # Consumers and reconcilers by name, built once the runtime exists. The API process runs them
    # when ``embedded_workers`` is on; ``<service> worker NAME`` runs one on its own.
    background: Mapping[str, Callable[[ServiceRuntime], Background]] = field(default_factory=dict)
    # Path prefixes whose bodies are streamed and limited by the endpoint itself (uploads).
    unlimited_body_prefixes: tuple[str, ...] = ()
    description: str = ""


def build_runtime(spec: ServiceSpec) -> ServiceRuntime:
    """Database, authenticator and publisher for ``spec`` (no threads started)."""
    settings = spec.settings
    return ServiceRuntime(
        settings=settings,
        database=Database(settings.resolved_database_url),
        authenticator=Authenticator(settings.platform.auth, settings.platform.resolved_home),
        publisher=EventPublisher(spec.name, spec.outbox_model),
    )


def create_service_app(spec: ServiceSpec, runtime: ServiceRuntime | None = None) -> FastAPI:
    """The FastAPI application of a service."""
    settings = spec.settings
    configure_logging(
        spec.name, level=settings.platform.log_level, json_lines=settings.platform.log_json
    )
    runtime = runtime or build_runtime(spec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            migrations.upgrade(runtime.database.url, spec.migrations_path)
        if settings.embedded_relay:
            runtime.relay = OutboxRelay(
                runtime.database,
                spec.outbox_model,
                bootstrap=settings.platform.kafka_bootstrap,
                client_id=f"dsw-{spec.name}-relay",
                poll_seconds=settings.outbox_poll_seconds,
            )
            runtime.relay.start()
        if settings.embedded_workers:
            runtime.background = [factory(runtime) for factory in spec.background.values()]
        for component in runtime.background:
            component.start()
        # Everything start-up made (modules, settings, ORM and OpenAPI models) lives as long as
        # the process: frozen, the cyclic collector stops walking it on every full collection,
        # which otherwise stalls all requests for hundreds of milliseconds under load.
        gc.freeze()
        logger.info("%s ready on %s:%d", spec.name, settings.host, settings.port)
        try:
            yield
        finally:
            for component in runtime.background:
                component.stop(5.0)
            if runtime.relay is not None:
                runtime.relay.stop()
            runtime.database.dispose()

    app = FastAPI(
        title=spec.title,
        version=spec.version,
        description=spec.description,
        lifespan=lifespan,
        responses=problem_responses(400, 401, 403, 404, 422, 503),
    )
    app.state.runtime = runtime
    app.state.authenticator = runtime.authenticator
    install_problem_handlers(app)
    app.add_middleware(
        RequestMiddleware,
        service=spec.name,
        max_body_bytes=settings.max_body_bytes,
        unlimited_prefixes=spec.unlimited_body_prefixes,
    )
    app.include_router(_health_router(runtime))
    for router in spec.routers:
        app.include_router(router)
    return app


def _health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database and broker reachable")
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            runtime.database.ping()
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unavailable: {type(error).__name__}"
        bootstrap = runtime.settings.platform.kafka_bootstrap
        checks["broker"] = "ok" if broker_reachable(bootstrap) else "unavailable"
        ready = all(value == "ok" for value in checks.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": checks})
        return JSONResponse(
            {
                "type": "https://dsw.dev/problems/not_ready",
                "title": "Service Unavailable",
                "status": 503,
                "code": "not_ready",
                "detail": "a dependency is unavailable",
                "checks": checks,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def get_runtime(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the runtime of the service handling ``request``."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


class BackgroundGroup:
    """Several background components started and stopped together (a worker and its wake-up)."""

    def __init__(self, *components: Background) -> None:
        self.components = components

    def start(self) -> None:
        for component in self.components:
            component.start()

    def stop(self, timeout: float = 10.0) -> None:
        for component in reversed(self.components):
            component.stop(timeout)
