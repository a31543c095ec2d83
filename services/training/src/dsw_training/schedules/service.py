"""Use cases of schedules: they add and flush, the request boundary commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_kit.db import utcnow
from dsw_kit.errors import FieldError, NotFound, UnprocessableEntity
from dsw_kit.schedules import CronSchedule, ScheduleError
from dsw_kit.web import UnitOfWork
from dsw_training.ml_models.recipes import ResolvedRecipe, validate_hyperparameters
from dsw_training.models import TrainingModel, TrainingSchedule
from dsw_training.schedules.schemas import ScheduleCreate, ScheduleUpdate


def _checked(
    cron: str | None, timezone: str, start: datetime | None, end: datetime | None, on_new_data: bool
) -> CronSchedule | None:
    """The parsed cron schedule (None without cron), or 422 naming the bad field."""
    try:
        if cron is None:
            if not on_new_data:
                raise ScheduleError("cron", "give a cron expression, on_new_data, or both")
            # Check the zone and window even without cron: they bound "on new data" runs.
            CronSchedule.parse("* * * * *", timezone, start, end)
            return None
        return CronSchedule.parse(cron, timezone, start, end)
    except ScheduleError as error:
        raise UnprocessableEntity(
            error.message,
            code="invalid_schedule",
            errors=[FieldError(pointer=f"/body/{error.field}", message=error.message)],
        ) from error


def _apply(schedule: TrainingSchedule, cron: CronSchedule | None) -> None:
    """Store the normalised schedule and its next tick from now (missed ones are not owed)."""
    schedule.cron = cron.cron if cron else None
    if cron is not None:
        schedule.timezone = cron.timezone
    schedule.next_fire_at = cron.next_after(utcnow()) if cron and schedule.enabled else None


def create_schedule(
    work: UnitOfWork, recipes: httpx.Client | None, model: TrainingModel, body: ScheduleCreate
) -> TrainingSchedule:
    """Register a schedule of ``model``; its first tick is the first after now."""
    cron = _checked(body.cron, body.timezone, body.start, body.end, body.on_new_data)
    _check_overrides(model, body.hyperparameters, recipes)
    schedule = TrainingSchedule(
        model_id=model.id,
        name=body.name,
        timezone=body.timezone,
        start=body.start,
        end=body.end,
        on_new_data=body.on_new_data,
        enabled=body.enabled,
        hyperparameters=dict(body.hyperparameters),
        tags=list(body.tags),
        created_by=work.context.subject,
    )
    _apply(schedule, cron)
    work.session.add(schedule)
    work.session.flush()
    return schedule


def _check_overrides(
    model: TrainingModel, overrides: dict[str, Any], recipes: httpx.Client | None
) -> None:
    recipe = ResolvedRecipe.of_model(model)
    validate_hyperparameters(recipe, {**model.hyperparameters, **overrides}, recipes=recipes)


def get_schedule(work: UnitOfWork, schedule_id: uuid.UUID) -> TrainingSchedule:
    """The schedule, or 404 (also for another tenant's)."""
    schedule = work.session.scalar(
        select(TrainingSchedule).where(TrainingSchedule.id == schedule_id)
    )
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found", code="schedule_not_found")
    return schedule


def update_schedule(
    work: UnitOfWork,
    recipes: httpx.Client | None,
    model: TrainingModel,
    schedule: TrainingSchedule,
    changes: ScheduleUpdate,
) -> TrainingSchedule:
    """Apply changes; the next tick is recomputed from now (the version check guards races)."""
    values = changes.model_dump(exclude_unset=True)
    cron = values.get("cron", schedule.cron)
    timezone = values.get("timezone") or schedule.timezone
    start = values.get("start", schedule.start)
    end = values.get("end", schedule.end)
    on_new_data = values.get("on_new_data")
    on_new_data = schedule.on_new_data if on_new_data is None else on_new_data
    parsed = _checked(cron, timezone, start, end, on_new_data)
    if changes.hyperparameters is not None:
        _check_overrides(model, changes.hyperparameters, recipes)
        schedule.hyperparameters = dict(changes.hyperparameters)
    if changes.name is not None:
        schedule.name = changes.name
    if changes.tags is not None:
        schedule.tags = list(changes.tags)
    if changes.enabled is not None:
        schedule.enabled = changes.enabled
    schedule.timezone, schedule.start, schedule.end = timezone, start, end
    schedule.on_new_data = on_new_data
    if not schedule.on_new_data:
        schedule.pending_data_at = schedule.pending_batch_id = None
    _apply(schedule, parsed)
    work.session.flush()
    return schedule


def set_enabled(work: UnitOfWork, schedule: TrainingSchedule, enabled: bool) -> TrainingSchedule:
    """Enable (next tick from now: ticks while disabled are not owed) or disable."""
    schedule.enabled = enabled
    if not enabled:
        schedule.pending_data_at = schedule.pending_batch_id = None
    _apply(schedule, schedule.cron_schedule())
    work.session.flush()
    return schedule


def delete_schedule(work: UnitOfWork, schedule: TrainingSchedule) -> None:
    """Remove the schedule; its runs stay (their ``schedule_id`` still names it)."""
    work.session.delete(schedule)
    work.session.flush()


def mark_new_data(session: Session, dataset_id: str, batch_id: str, landed: datetime) -> int:
    """New data in ``dataset_id`` at ``landed``: flag the "on new data" schedules of models
    training on it that existed by then (a batch older than the schedule is not new to it).

    Only a flag (the ticker starts the run, outside the consumer's poll loop); batches arriving
    before that run starts share it. Returns the number of schedules flagged.
    """
    schedules = session.scalars(
        select(TrainingSchedule)
        .join(TrainingModel, TrainingModel.id == TrainingSchedule.model_id)
        .where(
            TrainingModel.dataset_id == dataset_id,
            TrainingModel.deleted_at.is_(None),
            TrainingSchedule.on_new_data.is_(True),
            TrainingSchedule.enabled.is_(True),
            TrainingSchedule.created <= landed,
        )
    ).all()
    for schedule in schedules:
        if schedule.pending_data_at is None:
            schedule.pending_data_at = utcnow()
        schedule.pending_batch_id = batch_id
    session.flush()
    return len(schedules)
