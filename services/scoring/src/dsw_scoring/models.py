"""Database tables of the scoring service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import ResourceMixin, UTCDateTime
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.schedules import ScheduleMixin
from dsw_kit.web import IdempotencyMixin
from dsw_kit.work import LeasedWorkMixin


class Base(DeclarativeBase):
    """Declarative base of the scoring service's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class ScoringRun(LeasedWorkMixin, Base):
    """One scoring of a dataset by a model: queued -> running -> succeeded | failed | cancelled.

    Everything the worker needs is resolved when the run is requested (the model version, its
    inputs, the input files, the output dataset and its columns), so that a run scores exactly
    what was validated, whatever changes afterwards.
    """

    __tablename__ = "runs"

    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # The model as asked ({"training_run_id"} or {"model_id", "version" | "alias"}).
    model_ref: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    training_model_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    training_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    registered_model: Mapped[str | None] = mapped_column(String(512), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_uri: Mapped[str] = mapped_column(String(1024))
    recipe: Mapped[str] = mapped_column(String(255), default="")
    # Raw inputs in the model's order: [{name, type, required}].
    model_inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    key_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    input_dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    # The input's visible files when the run was requested: [{batch_id, name, uri, rows}].
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Input column (dotted) of each model input and key column: {name: column}.
    input_columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    window_field: Mapped[str | None] = mapped_column(String(255), nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    output_dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    output_dataset_created: Mapped[bool] = mapped_column(Boolean, default=False)
    # Output column (dotted, as the catalog schema names it) of each key and prediction column.
    output_columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    output_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="api")
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_scored: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScoringSchedule(ScheduleMixin, ResourceMixin, Base):
    """Scoring that repeats: on a cron expression, and/or for each new batch of the input dataset.

    Every run it starts uses the model's alias (``latest`` by default) as it is at that moment.
    Firing state (``next_fire_at``, ...) comes from :class:`dsw_kit.schedules.ScheduleMixin`.
    """

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(128))
    training_model_id: Mapped[str] = mapped_column(String(36))
    alias: Mapped[str] = mapped_column(String(64), default="latest")
    input_dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    output_dataset_id: Mapped[str] = mapped_column(String(36))
    # Input batches announced by the catalog that wait for their run (on new data).
    pending_batches: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    runs_started: Mapped[int] = mapped_column(Integer, default=0)
    # Ticks that found the previous run still going (no overlap) or were missed while down.
    ticks_skipped: Mapped[int] = mapped_column(Integer, default=0)
