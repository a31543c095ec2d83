"""Database tables of the scoring service."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.web import IdempotencyMixin


class Base(DeclarativeBase):
    """Declarative base of the scoring service's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"
