"""The catalog service: XDM schemas, datasets and batch ingestion into the Parquet lake."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dsw_catalog import __version__
from dsw_catalog.batches.api import UPLOAD_PREFIX
from dsw_catalog.batches.api import router as batches_router
from dsw_catalog.batches.worker import ingestion_worker
from dsw_catalog.datasets.api import router as datasets_router
from dsw_catalog.models import OutboxEvent
from dsw_catalog.settings import CatalogSettings
from dsw_catalog.xdm_components.api import router as components_router
from dsw_catalog.xdm_schemas.api import router as schemas_router
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
        routers=[schemas_router, components_router, datasets_router, batches_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={"ingest": ingestion_worker},
        # File uploads stream to the lake with their own size limit.
        unlimited_body_prefixes=(UPLOAD_PREFIX,),
    )


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    """The catalog's ASGI application."""
    return create_service_app(spec(settings))
