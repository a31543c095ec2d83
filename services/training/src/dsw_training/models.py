"""Database tables of the training service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import ResourceMixin, TenantScoped, UTCDateTime, utcnow
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.schedules import ScheduleMixin
from dsw_kit.web import IdempotencyMixin
from dsw_kit.work import LeasedWorkMixin


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


class TrainingModel(ResourceMixin, Base):
    """A model (DSW MLInstance): a recipe version + hyperparameters + a training dataset."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The recipe as the recipes service names it (built-ins: recipe name and version).
    recipe_id: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[str] = mapped_column(String(255))
    # What the worker imports: ``module:Class`` and the recipe's own name and version.
    recipe_entry_point: Mapped[str] = mapped_column(String(512))
    recipe_name: Mapped[str] = mapped_column(String(255))
    recipe_version: Mapped[str] = mapped_column(String(64))
    # A recipe whose code lives in an uploaded or imported package (None: installed code): the
    # training process downloads it from the recipes service and checks this sha256.
    recipe_package_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    input_features: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_features: Mapped[list[str]] = mapped_column(JSON, default=list)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Fixed at creation: a rename does not move the MLflow experiment or registered model.
    experiment_name: Mapped[str] = mapped_column(String(512))
    registered_model_name: Mapped[str] = mapped_column(String(512))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Registry aliases set through the API (e.g. champion): alias -> {run_id, model_version, at}.
    # ``latest`` is not stored: it is the newest succeeded run (MLflow reserves that name).
    aliases: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON, default=dict)


class TrainingRun(LeasedWorkMixin, Base):
    """One training of a model: queued -> running -> succeeded | failed | cancelled."""

    __tablename__ = "runs"

    model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("models.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # The hyperparameters used (the model's, with the run's overrides, validated).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    param_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_id: Mapped[str] = mapped_column(String(36))
    # The dataset's visible files when the run was requested: [{batch_id, uri, rows}].
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trigger: Mapped[str] = mapped_column(String(16), default="api")
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why a run was cancelled by the platform rather than a person (e.g. a pruned sweep trial).
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Per-iteration validation values the training process reported: [[step, value], ...].
    intermediate: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    # What those values measure (LightGBM's data set and metric, e.g. "training l2").
    intermediate_metric: Mapped[str | None] = mapped_column(String(128), nullable=True)
    intermediate_higher_is_better: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # The recipe's reference model on the same split (e.g. popularity, logistic RFM).
    baseline_metrics: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    # Total gain per feature of the run's LightGBM booster, largest first.
    feature_importance: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    mlflow_experiment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    registered_model: Mapped[str | None] = mapped_column(String(512), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RunMetric(TenantScoped, Base):
    """One metric of a finished run, kept apart so that runs can be ordered by it."""

    __tablename__ = "run_metrics"
    __table_args__ = (PrimaryKeyConstraint("run_id", "name"),)

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[float] = mapped_column(Float)


class Sweep(LeasedWorkMixin, Base):
    """A hyperparameter search over a model: each trial is a training run (``sweep_id``).

    A sweep driver holds its lease while the sweep runs; if the driver dies another one resumes
    from the trials recorded as runs.
    """

    __tablename__ = "sweeps"

    model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("models.id"), index=True)
    # running -> succeeded | failed | cancelled
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    strategy: Mapped[str] = mapped_column(String(16))
    space: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fixed_hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    objective_metric: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(8), default="min")
    max_trials: Mapped[int] = mapped_column(Integer)
    max_seconds: Mapped[float] = mapped_column(Float)
    parallelism: Mapped[int] = mapped_column(Integer, default=1)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    dataset_id: Mapped[str] = mapped_column(String(36))
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    trials_started: Mapped[int] = mapped_column(Integer, default=0)
    best_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # Optuna MedianPruner settings ({n_startup_trials, n_warmup_steps}); None: no pruning.
    early_stopping: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    best_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TrainingSchedule(ScheduleMixin, ResourceMixin, Base):
    """Retrains a model on a cron schedule and/or when its dataset gets new data.

    The ticker fires a due schedule with an UPDATE guarded by ``version`` (two tickers never both
    fire a tick). New data (a catalog batch-succeeded event) only marks ``pending_data_at``: the
    ticker starts the run, once for any number of batches that arrived meanwhile.
    """

    __tablename__ = "schedules"

    model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("models.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    # Overrides of the model's hyperparameters for the runs this schedule starts.
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pending_data_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, default=None, index=True
    )
    pending_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    last_skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_skip_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
