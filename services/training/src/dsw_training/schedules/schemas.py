"""Request and response models of schedules (retraining on a cron schedule or on new data)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dsw_training.models import TrainingSchedule


class ScheduleCreate(BaseModel):
    """A new schedule of a model: a cron expression, "on new data", or both."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID = Field(description="The model it retrains")
    name: str = Field(default="", max_length=128)
    cron: str | None = Field(
        default=None,
        max_length=128,
        description="Five-field cron expression, e.g. '0 6 * * 1' (Mondays 06:00)",
        examples=["0 6 * * 1"],
    )
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA time zone the cron expression is read in"
    )
    start: datetime | None = Field(default=None, description="No run before this instant")
    end: datetime | None = Field(default=None, description="No run at or after this instant")
    on_new_data: bool = Field(
        default=False,
        description="Also retrain when a batch of the model's dataset is ingested successfully",
    )
    enabled: bool = True
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the model's hyperparameters"
    )
    tags: list[str] = Field(default_factory=list, max_length=50)


class ScheduleUpdate(BaseModel):
    """Changes to a schedule (omitted fields stay; ``null`` clears cron, start or end)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=128)
    cron: str | None = Field(default=None, max_length=128)
    timezone: str | None = Field(default=None, max_length=64)
    start: datetime | None = None
    end: datetime | None = None
    on_new_data: bool | None = None
    enabled: bool | None = None
    hyperparameters: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)


class SkipOut(BaseModel):
    """The last tick that did not start a run, and why."""

    at: datetime
    reason: str


class ScheduleOut(BaseModel):
    """A schedule."""

    id: uuid.UUID
    model_id: uuid.UUID
    name: str
    cron: str | None
    timezone: str
    start: datetime | None
    end: datetime | None
    on_new_data: bool
    enabled: bool
    hyperparameters: dict[str, Any]
    next_fire_at: datetime | None = Field(description="The next cron tick (None: none coming)")
    pending_data_since: datetime | None = Field(
        description="New data arrived at this time and is waiting for a run"
    )
    last_fired_at: datetime | None
    last_run_id: uuid.UUID | None
    fired: int = Field(description="Runs this schedule started")
    skipped: int = Field(description="Ticks that started no run")
    last_skip: SkipOut | None
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    version: int

    @classmethod
    def of(cls, schedule: TrainingSchedule) -> ScheduleOut:
        skip = None
        if schedule.last_skipped_at is not None:
            skip = SkipOut(at=schedule.last_skipped_at, reason=schedule.last_skip_reason or "")
        return cls(
            id=schedule.id,
            model_id=schedule.model_id,
            name=schedule.name,
            cron=schedule.cron,
            timezone=schedule.timezone,
            start=schedule.start,
            end=schedule.end,
            on_new_data=schedule.on_new_data,
            enabled=schedule.enabled,
            hyperparameters=dict(schedule.hyperparameters),
            next_fire_at=schedule.next_fire_at,
            pending_data_since=schedule.pending_data_at,
            last_fired_at=schedule.last_fired_at,
            last_run_id=schedule.last_run_id,
            fired=schedule.fired_count,
            skipped=schedule.skipped_count,
            last_skip=skip,
            tags=list(schedule.tags),
            created=schedule.created,
            updated=schedule.updated,
            created_by=schedule.created_by,
            version=schedule.version,
        )
