"""Request and response models of scoring runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsw_scoring.models import ScoringRun

RunState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
_ALIAS = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


class ModelRef(BaseModel):
    """The model to score with: a succeeded training run, or a model's version or alias."""

    model_config = ConfigDict(extra="forbid")

    training_run_id: uuid.UUID | None = Field(
        default=None, description="A succeeded training run: the model it trained"
    )
    model_id: uuid.UUID | None = Field(
        default=None, description="A training model: its registered version or alias"
    )
    version: str | None = Field(
        default=None, pattern=r"^[0-9]{1,9}$", description="Registered model version number"
    )
    alias: str | None = Field(
        default=None,
        pattern=_ALIAS,
        description="Registry alias, e.g. champion (default latest: the newest version)",
    )

    @model_validator(mode="after")
    def _one_model(self) -> ModelRef:
        if (self.training_run_id is None) == (self.model_id is None):
            raise ValueError("name either training_run_id or model_id")
        if self.training_run_id is not None and (self.version or self.alias):
            raise ValueError("version and alias go with model_id, not training_run_id")
        if self.version is not None and self.alias is not None:
            raise ValueError("name a version or an alias, not both")
        return self


class WindowIn(BaseModel):
    """Score only rows whose time field is in [start, end)."""

    model_config = ConfigDict(extra="forbid")

    start: datetime | None = None
    end: datetime | None = None
    field: str | None = Field(
        default=None,
        max_length=255,
        description="A date or date-time input of the model (default: its first one)",
    )

    @model_validator(mode="after")
    def _bounds(self) -> WindowIn:
        if self.start is None and self.end is None:
            raise ValueError("give start, end or both")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a UTC offset (e.g. 2012-01-01T00:00:00Z)")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class OutputIn(BaseModel):
    """Where predictions go: an existing compatible dataset, or a new one created on first use."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID | None = Field(default=None, description="An existing dataset")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
        description="Name of a new dataset (key columns + prediction columns)",
    )

    @model_validator(mode="after")
    def _one_output(self) -> OutputIn:
        if (self.dataset_id is None) == (self.name is None):
            raise ValueError("name either dataset_id or name")
        return self


class RunCreate(BaseModel):
    """A scoring run."""

    model_config = ConfigDict(extra="forbid")

    model: ModelRef
    input_dataset_id: uuid.UUID
    window: WindowIn | None = None
    output: OutputIn
    tags: list[str] = Field(default_factory=list, max_length=50)


class ProgressOut(BaseModel):
    """Where a run is: its stage and rows."""

    stage: str | None
    rows_total: int = Field(description="Rows in the input snapshot")
    rows_read: int
    rows_scored: int = Field(description="Rows written to the output (inside the window)")
    percent: float


class ModelOut(BaseModel):
    """The model version a run scores with (pinned when the run was requested)."""

    ref: dict[str, Any]
    training_model_id: str | None
    training_run_id: str | None
    registered_model: str | None
    version: str | None
    uri: str
    recipe: str


class RunOut(BaseModel):
    """A scoring run."""

    id: uuid.UUID
    state: RunState
    model: ModelOut
    input_dataset_id: str
    input_batch_ids: list[str]
    window: dict[str, Any] | None
    output_dataset_id: str
    output_dataset_created: bool
    output_columns: dict[str, str]
    output_batch_id: str | None
    trigger: str
    schedule_id: uuid.UUID | None
    progress: ProgressOut
    error: str | None
    attempts: int
    cancel_requested: bool
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: ScoringRun) -> RunOut:
        total = run.rows_total or 0
        percent = 100.0 if run.state == "succeeded" else 0.0
        if total and run.state != "succeeded":
            percent = round(min(100.0, 100.0 * run.rows_read / total), 1)
        window = None
        if run.window_start or run.window_end:
            window = {"field": run.window_field, "start": run.window_start, "end": run.window_end}
        return cls(
            id=run.id,
            state=run.state,
            model=ModelOut(
                ref=dict(run.model_ref),
                training_model_id=run.training_model_id,
                training_run_id=run.training_run_id,
                registered_model=run.registered_model,
                version=run.model_version,
                uri=run.model_uri,
                recipe=run.recipe,
            ),
            input_dataset_id=run.input_dataset_id,
            input_batch_ids=sorted({str(item["batch_id"]) for item in run.snapshot or []}),
            window=window,
            output_dataset_id=run.output_dataset_id,
            output_dataset_created=run.output_dataset_created,
            output_columns=dict(run.output_columns),
            output_batch_id=run.output_batch_id,
            trigger=run.trigger,
            schedule_id=run.schedule_id,
            progress=ProgressOut(
                stage=run.stage,
                rows_total=total,
                rows_read=run.rows_read,
                rows_scored=run.rows_scored,
                percent=percent,
            ),
            error=run.error,
            attempts=run.attempts,
            cancel_requested=run.cancel_requested,
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
