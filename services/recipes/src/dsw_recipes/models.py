"""Database tables of the recipes service.

Built-in recipes are platform-owned rows (``org_id`` = :data:`PLATFORM_ORG`) with ids derived
from their name and version, so every deployment and every tenant sees the same ids; the
repository adds them to each tenant's reads explicitly (see ``recipes/repository.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import ResourceMixin, TenantScoped, UTCDateTime, utcnow
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.web import IdempotencyMixin
from dsw_kit.work import LeasedWorkMixin

#: Owner of the built-in recipes' rows (no token can name it: tenants are checked segments).
PLATFORM_ORG = "_platform"
PLATFORM_SANDBOX = "_builtin"


class Base(DeclarativeBase):
    """Declarative base of the recipes service's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class Recipe(ResourceMixin, Base):
    """A named model specification (DSW "Engine"); its code lives in its versions."""

    __tablename__ = "recipes"
    __table_args__ = (UniqueConstraint("org_id", "sandbox", "name", name="uq_recipe_name"),)

    name: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    task_type: Mapped[str] = mapped_column(String(32), default="custom")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class RecipeVersion(LeasedWorkMixin, Base):
    """An immutable version of a recipe, identified by the hash of its normalised file tree."""

    __tablename__ = "recipe_versions"
    __table_args__ = (
        UniqueConstraint("org_id", "sandbox", "recipe_id", "content_hash", name="uq_version_hash"),
        UniqueConstraint("org_id", "sandbox", "recipe_id", "version_name", name="uq_version_name"),
    )

    recipe_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipes.id"), index=True)
    # The manifest's MAJOR.MINOR.PATCH.
    version_name: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # builtin | upload | git
    source: Mapped[str] = mapped_column(String(16))
    source_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    git_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_point: Mapped[str] = mapped_column(String(512))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The [smoke] table of the manifest: {"sample": path in the package, "params": {...}}.
    smoke: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    check_warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Lake path of the normalised package (tar.gz); None for built-ins (their code ships with us).
    package_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    package_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    # pending -> valid | invalid; skipped when built-in smoke runs are off.
    validation_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # sample (trained on a tiny sample) | contract (imported and checked only)
    validation_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    validation_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    validation_output: Mapped[str | None] = mapped_column(Text, nullable=True)
    validation_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # active | deprecated
    status: Mapped[str] = mapped_column(String(16), default="active")
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecipeUsage(TenantScoped, Base):
    """Read model: which models (training service) use which recipe version.

    Fed by the consumer of ``dsw.training.model.created|updated|deleted``; it is what makes
    deprecating or deleting a version in use a 409.
    """

    __tablename__ = "recipe_usages"
    __table_args__ = (UniqueConstraint("org_id", "sandbox", "model_id", name="uq_usage_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64))
    recipe_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[str] = mapped_column(String(64), index=True)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
