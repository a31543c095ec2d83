"""Alembic environment of the catalog service."""

from dsw_catalog.models import Base
from dsw_kit.migrations import run_migrations

run_migrations(Base.metadata)
