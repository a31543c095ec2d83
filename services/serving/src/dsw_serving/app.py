"""The serving service: published prediction endpoints, revisions, traffic and monitoring."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_serving import __version__
from dsw_serving.models import OutboxEvent
from dsw_serving.settings import ServingSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: ServingSettings | None = None) -> ServiceSpec:
    """How the serving service is assembled."""
    return ServiceSpec(
        name="serving",
        title="DSW Serving",
        version=__version__,
        description="Published intelligent services: predictions, revisions, traffic, feedback.",
        settings=settings or ServingSettings(),
        routers=[],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
    )


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """The serving service's ASGI application."""
    return create_service_app(spec(settings))
