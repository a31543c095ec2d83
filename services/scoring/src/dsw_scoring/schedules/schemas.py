"""Request and response models of scoring schedules."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from dsw_scoring.models import ScoringSchedule
from dsw_scoring.runs.schemas import OutputIn

_ALIAS = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


class ScheduleModelIn(BaseModel):
    """The model a schedule scores with: its alias is resolved at each run."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID
    alias: str = Field(default="latest", pattern=_ALIAS, description="e.g. latest or champion")


class ScheduleCreate(BaseModel):
    """A scoring schedule: cron, on new data, or both."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    model: ScheduleModelIn
    input_dataset_id: uuid.UUID
    output: OutputIn
    cron: str | None = Field(
        default=None, max_length=128, description="Five-field cron expression, e.g. 0 6 * * *"
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone of the cron")
    start: datetime | None = Field(default=None, description="No run before this time")
    end: datetime | None = Field(default=None, description="No run from this time on")
    on_new_data: bool = Field(
        default=False, description="Score each new successful batch of the input dataset"
    )
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, max_length=50)


class ScheduleUpdate(BaseModel):
    """Changes to a schedule (omitted fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=128)
    alias: str | None = Field(default=None, pattern=_ALIAS)
    cron: str | None = Field(default=None, max_length=128)
    timezone: str | None = Field(default=None, max_length=64)
    on_new_data: bool | None = None
    enabled: bool | None = None


class ScheduleOut(BaseModel):
    """A scoring schedule."""

    id: uuid.UUID
    name: str
    model_id: str
    alias: str
    input_dataset_id: str
    output_dataset_id: str
    cron: str | None
    timezone: str
    start: datetime | None
    end: datetime | None
    on_new_data: bool
    enabled: bool
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    last_run_id: uuid.UUID | None
    last_error: str | None
    pending_batches: list[str]
    runs_started: int
    ticks_skipped: int
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    version: int

    @classmethod
    def of(cls, schedule: ScoringSchedule) -> ScheduleOut:
        return cls(
            id=schedule.id,
            name=schedule.name,
            model_id=schedule.training_model_id,
            alias=schedule.alias,
            input_dataset_id=schedule.input_dataset_id,
            output_dataset_id=schedule.output_dataset_id,
            cron=schedule.cron,
            timezone=schedule.timezone,
            start=schedule.start,
            end=schedule.end,
            on_new_data=schedule.on_new_data,
            enabled=schedule.enabled,
            next_fire_at=schedule.next_fire_at,
            last_fired_at=schedule.last_fired_at,
            last_run_id=schedule.last_run_id,
            last_error=schedule.last_error,
            pending_batches=list(schedule.pending_batches or []),
            runs_started=schedule.runs_started,
            ticks_skipped=schedule.ticks_skipped,
            tags=list(schedule.tags),
            created=schedule.created,
            updated=schedule.updated,
            created_by=schedule.created_by,
            version=schedule.version,
        )
