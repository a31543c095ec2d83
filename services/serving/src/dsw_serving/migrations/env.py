"""Alembic environment of the serving service."""

from dsw_kit.migrations import run_migrations
from dsw_serving.models import Base

run_migrations(Base.metadata)
