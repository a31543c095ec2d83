"""The training service: models, training runs on workers, sweeps, schedules and MLflow tracking."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_training import __version__
from dsw_training.datasets.api import router as datasets_router
from dsw_training.datasets.events import catalog_events_consumer
from dsw_training.models import OutboxEvent
from dsw_training.settings import TrainingSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: TrainingSettings | None = None) -> ServiceSpec:
    """How the training service is assembled."""
    return ServiceSpec(
        name="training",
        title="DSW Training",
        version=__version__,
        description="Models, training runs on workers, sweeps, schedules and MLflow tracking.",
        settings=settings or TrainingSettings(),
        routers=[datasets_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={"catalog-events": catalog_events_consumer},
    )


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """The training service's ASGI application."""
    return create_service_app(spec(settings))
