"""The recipes service: built-in and uploaded recipe packages and their versions."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_recipes import __version__
from dsw_recipes.models import OutboxEvent
from dsw_recipes.settings import RecipesSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: RecipesSettings | None = None) -> ServiceSpec:
    """How the recipes service is assembled."""
    return ServiceSpec(
        name="recipes",
        title="DSW Recipes",
        version=__version__,
        description="Model specifications: built-in and uploaded recipe packages.",
        settings=settings or RecipesSettings(),
        routers=[],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
    )


def create_app(settings: RecipesSettings | None = None) -> FastAPI:
    """The recipes service's ASGI application."""
    return create_service_app(spec(settings))
