"""Request and response models of sweeps (hyperparameter tuning)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsw_training.models import Sweep


class ParamRange(BaseModel):
    """Where one hyperparameter is searched: a float or int range, or a list of choices.

    A grid takes ``values`` when given, every integer step of an int range otherwise; float
    ranges need ``values`` in a grid.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "choice"]
    low: float | None = None
    high: float | None = None
    log: bool = Field(default=False, description="Sample on a log scale (positive ranges)")
    step: int | None = Field(default=None, ge=1, description="Step of an int range")
    values: list[Any] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> ParamRange:
        if self.type == "choice":
            if not self.values:
                raise ValueError("a choice needs values")
            return self
        if self.low is None or self.high is None:
            if self.values:
                return self
            raise ValueError(f"a {self.type} range needs low and high (or values)")
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        if self.log and self.low <= 0:
            raise ValueError("a log range must be positive")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int range needs integer bounds")
        return self


class Objective(BaseModel):
    """The metric the sweep optimises."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128, examples=["rmse"])
    direction: Literal["min", "max"] | None = Field(
        None, description="Whether lower or higher wins (default: as the model's recipe says)"
    )


class EarlyStopping(BaseModel):
    """Prune trials that do clearly worse than the finished ones (Optuna's MedianPruner).

    Each trial reports LightGBM's metric after every boosting round; a running trial whose best
    value so far is worse than the median of the finished trials at the same round is cancelled
    (``cancel_reason`` says ``pruned: ...``).
    """

    model_config = ConfigDict(extra="forbid")

    n_startup_trials: int = Field(
        default=3, ge=1, le=100, description="Finished trials needed before any pruning"
    )
    n_warmup_steps: int = Field(
        default=10,
        ge=0,
        le=100_000,
        description="Boosting rounds a trial runs before it can be pruned",
    )


class SweepCreate(BaseModel):
    """A new sweep of a model."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["grid", "random", "tpe"] = Field(
        description="grid: every combination; random: seeded sampling; tpe: Optuna TPE"
    )
    space: dict[str, ParamRange] = Field(min_length=1, max_length=30)
    objective: Objective
    max_trials: int = Field(default=10, ge=1, le=1000, description="Most trials (runs)")
    max_seconds: float = Field(
        default=3600.0, gt=0, le=7 * 24 * 3600, description="Time budget; then trials stop"
    )
    parallelism: int = Field(default=1, ge=1, le=64, description="Trials queued or running at once")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Fixed values for every trial (over the model's)"
    )
    dataset_id: uuid.UUID | None = Field(default=None, description="Instead of the model's")
    seed: int = Field(default=0, ge=0)
    early_stopping: EarlyStopping | None = Field(
        default=None, description="Prune bad trials early (off when omitted)"
    )
    tags: list[str] = Field(default_factory=list, max_length=50)


class TrialCounts(BaseModel):
    """How many trials are in each state."""

    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    pruned: int = Field(default=0, description="Cancelled trials that early stopping pruned")


class SweepBest(BaseModel):
    """The best trial so far."""

    run_id: uuid.UUID
    value: float


class SweepOut(BaseModel):
    """A sweep."""

    id: uuid.UUID
    model_id: uuid.UUID
    state: Literal["running", "succeeded", "failed", "cancelled"]
    strategy: str
    space: dict[str, Any]
    objective: Objective
    max_trials: int
    max_seconds: float
    parallelism: int
    hyperparameters: dict[str, Any]
    dataset_id: str
    seed: int
    early_stopping: EarlyStopping | None
    cancel_requested: bool
    trials: TrialCounts
    best: SweepBest | None
    error: str | None
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    finished_at: datetime | None

    @classmethod
    def of(cls, sweep: Sweep, trials: TrialCounts) -> SweepOut:
        best = None
        if sweep.best_run_id is not None and sweep.best_value is not None:
            best = SweepBest(run_id=sweep.best_run_id, value=sweep.best_value)
        return cls(
            id=sweep.id,
            model_id=sweep.model_id,
            state=sweep.state,
            strategy=sweep.strategy,
            space=dict(sweep.space),
            objective=Objective(metric=sweep.objective_metric, direction=sweep.direction),
            max_trials=sweep.max_trials,
            max_seconds=sweep.max_seconds,
            parallelism=sweep.parallelism,
            hyperparameters=dict(sweep.fixed_hyperparameters),
            dataset_id=sweep.dataset_id,
            seed=sweep.seed,
            early_stopping=EarlyStopping(**sweep.early_stopping) if sweep.early_stopping else None,
            cancel_requested=sweep.cancel_requested,
            trials=trials,
            best=best,
            error=sweep.error,
            tags=list(sweep.tags),
            created=sweep.created,
            updated=sweep.updated,
            created_by=sweep.created_by,
            finished_at=sweep.finished_at,
        )
