"""Database tables of the training service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import TenantScoped, UTCDateTime, utcnow
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.web import IdempotencyMixin


class Base(DeclarativeBase):
    """Declarative base of the training service's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class DatasetActivity(TenantScoped, Base):
    """What training knows of a catalog dataset, kept from the catalog's events.

    Schedules that retrain "on new data" and model creation read this instead of calling the
    catalog for every decision.
    """

    __tablename__ = "dataset_activity"

    dataset_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    batches_succeeded: Mapped[int] = mapped_column(Integer, default=0)
    last_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    last_event_id: Mapped[str] = mapped_column(String(64), default="")
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
