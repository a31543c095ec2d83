"""Database tables of the catalog service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import ResourceMixin, UTCDateTime
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.web import IdempotencyMixin


class Base(DeclarativeBase):
    """Declarative base of the catalog's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class Dataset(ResourceMixin, Base):
    """A named collection of batches that share one XDM schema."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    schema_id: Mapped[str | None] = mapped_column(String(512), nullable=True, index=True)
    # Ingestion settings: accept a batch with some rejected rows, up to this share of rows.
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    error_threshold_percent: Mapped[float] = mapped_column(Float, default=0.0)
    timestamp_field: Mapped[str | None] = mapped_column(String(512), nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
