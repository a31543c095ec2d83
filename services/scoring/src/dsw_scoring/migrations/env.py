"""Alembic environment of the scoring service."""

from dsw_kit.migrations import run_migrations
from dsw_scoring.models import Base

run_migrations(Base.metadata)
