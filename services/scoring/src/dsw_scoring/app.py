"""The scoring service: batch scoring runs whose predictions land in the catalog."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_scoring import __version__
from dsw_scoring.models import OutboxEvent
from dsw_scoring.settings import ScoringSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: ScoringSettings | None = None) -> ServiceSpec:
    """How the scoring service is assembled."""
    return ServiceSpec(
        name="scoring",
        title="DSW Scoring",
        version=__version__,
        description="Batch scoring runs that write predictions back to the catalog as datasets.",
        settings=settings or ScoringSettings(),
        routers=[],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
    )


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """The scoring service's ASGI application."""
    return create_service_app(spec(settings))
