"""The training service: models, training runs on workers, sweeps, schedules and MLflow tracking."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from dsw_kit.app import BackgroundGroup, ServiceRuntime, ServiceSpec, create_service_app
from dsw_training import __version__
from dsw_training.datasets.api import router as datasets_router
from dsw_training.datasets.events import catalog_events_consumer
from dsw_training.ml_models.api import router as models_router
from dsw_training.models import OutboxEvent
from dsw_training.runs.api import router as runs_router
from dsw_training.runs.worker import training_worker
from dsw_training.schedules.api import router as schedules_router
from dsw_training.schedules.ticker import ScheduleTicker, schedule_ticker
from dsw_training.settings import TrainingSettings
from dsw_training.sweeps.api import router as sweeps_router
from dsw_training.sweeps.driver import sweep_driver
from dsw_training.upstream import Upstreams

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(
    settings: TrainingSettings | None = None,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> ServiceSpec:
    """How the training service is assembled (``transports`` reach other services in tests)."""
    settings = settings or TrainingSettings()

    def ticker(runtime: ServiceRuntime) -> ScheduleTicker:
        upstreams = Upstreams.build(settings, runtime.authenticator, transports)
        return schedule_ticker(runtime, upstreams.catalog)

    def workers(runtime: ServiceRuntime) -> BackgroundGroup:
        upstreams = Upstreams.build(settings, runtime.authenticator, transports)
        return training_worker(runtime, upstreams.recipes)

    return ServiceSpec(
        name="training",
        title="DSW Training",
        version=__version__,
        description="Models, training runs on workers, sweeps, schedules and MLflow tracking.",
        settings=settings,
        routers=[models_router, runs_router, sweeps_router, schedules_router, datasets_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={
            "catalog-events": catalog_events_consumer,
            "runs": workers,
            "sweeps": sweep_driver,
            "schedules": ticker,
        },
    )


def create_app(
    settings: TrainingSettings | None = None,
    *,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> FastAPI:
    """The training service's ASGI application (``transports`` reach other services in tests)."""
    service_spec = spec(settings, transports)
    app = create_service_app(service_spec)
    assert isinstance(service_spec.settings, TrainingSettings)
    app.state.upstreams = Upstreams.build(
        service_spec.settings, app.state.runtime.authenticator, transports
    )
    return app
