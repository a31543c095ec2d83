"""Database tables of the serving service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
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

_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the serving service's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class Service(ResourceMixin, Base):
    """A published intelligent service (DSW MLService): a name, its revisions and its traffic.

    Traffic: ``mode`` ``single`` sends everything to ``primary_revision``; ``canary`` sends
    ``canary_percent`` of requests to ``secondary_revision``; ``shadow`` answers from the primary
    and sends a copy to the secondary, whose answers are only logged. ``version`` (the ETag) is
    bumped by every change, which is what serving processes poll to pick changes up.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("org_id", "sandbox", "name", name="uq_service_name"),)

    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    training_model_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # {"kind": "run" | "latest" | "best", "metric", "direction", "min_improvement",
    #  "promotion": "direct" | "canary", "canary_percent", "auto_promote"}
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mode: Mapped[str] = mapped_column(String(16), default="single")
    primary_revision: Mapped[int] = mapped_column(Integer, default=1)
    secondary_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_percent: Mapped[int] = mapped_column(Integer, default=0)
    previous_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    revision_count: Mapped[int] = mapped_column(Integer, default=0)
    retraining_advised: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made through the training and scoring APIs at publish; deleted with the service.
    retraining_schedule_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    scoring_schedule_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Adaptive micro-batching of single-record requests: {"max_rows", "max_wait_ms"}; None: off.
    batching: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Revision(TenantScoped, Base):
    """One model version of a service; a new model always makes a new revision."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("service_id", "number", name="uq_revision_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    training_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    training_model_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model_uri: Mapped[str] = mapped_column(String(1024))
    registered_model: Mapped[str | None] = mapped_column(String(512), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    task_type: Mapped[str] = mapped_column(String(32), default="")
    recipe: Mapped[str] = mapped_column(String(255), default="")
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16), default="publish")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(TenantScoped, Base):
    """An application's key for one service's prediction endpoints (only its hash is kept)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Decision(TenantScoped, Base):
    """What automatic promotion decided about a new model, and why."""

    __tablename__ = "decisions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    training_run_id: Mapped[str] = mapped_column(String(36))
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    live_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # promoted | canary | kept | skipped
    metric: Mapped[str | None] = mapped_column(String(64), nullable=True)
    candidate_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    live_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invocation(TenantScoped, Base):
    """One logged prediction request (sampled), stored from the invocations topic."""

    __tablename__ = "invocations"
    __table_args__ = (UniqueConstraint("request_id", "revision", name="uq_invocation"),)

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(63), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs: Mapped[Any] = mapped_column(JSON)
    outputs: Mapped[list[float]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Feedback(TenantScoped, Base):
    """The actual outcome of a prediction request, sent back by the application."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("service", "request_id", name="uq_feedback"),)

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(63), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    actuals: Mapped[list[float]] = mapped_column(JSON)
    received: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
