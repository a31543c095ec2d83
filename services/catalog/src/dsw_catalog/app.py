"""The catalog service: XDM schemas, datasets and batch ingestion into the Parquet lake."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_catalog import __version__
from dsw_catalog.datasets.api import router as datasets_router
from dsw_catalog.models import OutboxEvent
from dsw_catalog.settings import CatalogSettings
from dsw_kit.app import ServiceSpec, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: CatalogSettings | None = None) -> ServiceSpec:
    """How the catalog service is assembled."""
    return ServiceSpec(
        name="catalog",
        title="DSW Catalog",
        version=__version__,
        description="XDM schemas, datasets, and batch ingestion into the Parquet lake.",
        settings=settings or CatalogSettings(),
        routers=[datasets_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
    )


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    """The catalog's ASGI application."""
    return create_service_app(spec(settings))
