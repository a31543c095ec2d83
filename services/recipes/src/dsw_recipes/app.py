"""The recipes service: built-in and uploaded recipe packages and their versions."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_recipes import __version__
from dsw_recipes.models import OutboxEvent
from dsw_recipes.recipes.api import UPLOAD_PATH
from dsw_recipes.recipes.api import router as recipes_router
from dsw_recipes.settings import RecipesSettings
from dsw_recipes.smoke.worker import smoke_worker
from dsw_recipes.usage.events import usage_consumer

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: RecipesSettings | None = None) -> ServiceSpec:
    """How the recipes service is assembled."""
    return ServiceSpec(
        name="recipes",
        title="DSW Recipes",
        version=__version__,
        description="Model specifications: built-in and uploaded recipe packages.",
        settings=settings or RecipesSettings(),
        routers=[recipes_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={"smoke": smoke_worker, "usage": usage_consumer},
        # Package uploads stream in with their own size limit (max_package_bytes).
        unlimited_body_prefixes=(UPLOAD_PATH,),
    )


def create_app(settings: RecipesSettings | None = None) -> FastAPI:
    """The recipes service's ASGI application."""
    return create_service_app(spec(settings))
