"""Alembic environment of the training service."""

from dsw_kit.migrations import run_migrations
from dsw_training.models import Base

run_migrations(Base.metadata)
