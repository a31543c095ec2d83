"""The serving service: published prediction endpoints, revisions, traffic and monitoring."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_serving import __version__
from dsw_serving.models import OutboxEvent
from dsw_serving.monitoring.api import router as monitoring_router
from dsw_serving.monitoring.store import invocation_store
from dsw_serving.predict.api import router as predict_router
from dsw_serving.publishing.api import router as services_router
from dsw_serving.publishing.promotion_reconciler import promotion_worker
from dsw_serving.settings import ServingSettings
from dsw_serving.upstream import Upstreams

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(
    settings: ServingSettings | None = None,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> ServiceSpec:
    """How the serving service is assembled (``transports`` reach other services in tests)."""
    settings = settings or ServingSettings()
    return ServiceSpec(
        name="serving",
        title="DSW Serving",
        version=__version__,
        description="Published intelligent services: predictions, revisions, traffic, feedback.",
        settings=settings,
        routers=[predict_router, services_router, monitoring_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={"training-events": promotion_worker, "invocations": invocation_store},
    )


def create_app(
    settings: ServingSettings | None = None,
    *,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> FastAPI:
    """The serving service's ASGI application (``transports`` reach training in tests)."""
    service_spec = spec(settings, transports)
    app = create_service_app(service_spec)
    assert isinstance(service_spec.settings, ServingSettings)
    runtime = app.state.runtime
    runtime.upstreams = Upstreams.build(service_spec.settings, runtime.authenticator, transports)
    return app
