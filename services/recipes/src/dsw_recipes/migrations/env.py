"""Alembic environment of the recipes service."""

from dsw_kit.migrations import run_migrations
from dsw_recipes.models import Base

run_migrations(Base.metadata)
