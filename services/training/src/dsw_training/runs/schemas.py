"""Request and response models of training runs and their comparison."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dsw_training.models import TrainingRun

RunState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RunCreate(BaseModel):
    """A training run of a model."""

    model_config = ConfigDict(extra="forbid")

    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the model's hyperparameters for this run"
    )
    dataset_id: uuid.UUID | None = Field(
        default=None, description="Train on this catalog dataset instead of the model's"
    )
    tags: list[str] = Field(default_factory=list, max_length=50)


class ProgressOut(BaseModel):
    """Where a run is: its stage, percent done (0-100) and rows handled."""

    stage: str | None
    percent: float
    rows: int | None


class SnapshotOut(BaseModel):
    """The data a run trains on: the dataset's visible batches and files when it was queued."""

    batch_ids: list[str]
    files: list[dict[str, Any]]


class MlflowOut(BaseModel):
    """Where the run lives in MLflow."""

    experiment_id: str | None
    run_id: str | None
    model_uri: str | None
    registered_model: str | None
    model_version: str | None


class RunOut(BaseModel):
    """A training run."""

    id: uuid.UUID
    model_id: uuid.UUID
    state: RunState
    params: dict[str, Any]
    param_overrides: dict[str, Any]
    dataset_id: str
    snapshot: SnapshotOut
    trigger: str
    sweep_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    progress: ProgressOut
    metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None = Field(
        description="The recipe's baseline model on the same split (null: the recipe has none)"
    )
    feature_importance: dict[str, float] | None = Field(
        description="Total gain per feature of the LightGBM booster, largest first"
    )
    mlflow: MlflowOut
    error: str | None
    log_tail: list[str] = Field(description="Last log lines of a failed run")
    attempts: int
    cancel_requested: bool
    cancel_reason: str | None = Field(
        description="Why the platform cancelled it (e.g. a pruned sweep trial)"
    )
    intermediate: list[list[float]] = Field(
        description="Validation metric per boosting iteration, [[iteration, value], ...]"
    )
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: TrainingRun) -> RunOut:
        files = list(run.snapshot or [])
        return cls(
            id=run.id,
            model_id=run.model_id,
            state=run.state,
            params=dict(run.params),
            param_overrides=dict(run.param_overrides),
            dataset_id=run.dataset_id,
            snapshot=SnapshotOut(
                batch_ids=sorted({str(f["batch_id"]) for f in files}), files=files
            ),
            trigger=run.trigger,
            sweep_id=run.sweep_id,
            schedule_id=run.schedule_id,
            progress=ProgressOut(stage=run.stage, percent=run.percent, rows=run.rows),
            metrics=dict(run.metrics or {}),
            baseline_metrics=dict(run.baseline_metrics) if run.baseline_metrics else None,
            feature_importance=dict(run.feature_importance) if run.feature_importance else None,
            mlflow=MlflowOut(
                experiment_id=run.mlflow_experiment_id,
                run_id=run.mlflow_run_id,
                model_uri=run.model_uri,
                registered_model=run.registered_model,
                model_version=run.model_version,
            ),
            error=run.error,
            log_tail=list(run.log_tail or []),
            attempts=run.attempts,
            cancel_requested=run.cancel_requested,
            cancel_reason=run.cancel_reason,
            intermediate=[list(point) for point in run.intermediate or []],
            tags=list(run.tags),
            created=run.created,
            updated=run.updated,
            created_by=run.created_by,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class LogOut(BaseModel):
    """The last lines of a run's log."""

    run_id: uuid.UUID
    attempt: int
    lines: list[str]
    truncated: bool = Field(description="Whether earlier lines were left out")


class ComparedRun(BaseModel):
    """One run in a comparison."""

    id: uuid.UUID
    state: RunState
    created: datetime
    params: dict[str, Any]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None = None


class BestRun(BaseModel):
    """The best run for the compared metric."""

    run_id: uuid.UUID
    value: float


class ComparisonOut(BaseModel):
    """Parameters and metrics of several runs side by side."""

    metric: str | None
    direction: Literal["min", "max"]
    runs: list[ComparedRun]
    params: dict[str, dict[str, Any]] = Field(description="Parameter -> run id -> value")
    metrics: dict[str, dict[str, float]] = Field(description="Metric -> run id -> value")
    differing_params: list[str] = Field(description="Parameters whose values differ across runs")
    best: BestRun | None
