"""Use cases of scoring schedules, and firing them (cron ticks and new input batches).

A schedule fires at most one run at a time: while its previous run is queued or running, a cron
tick is skipped (counted) and new batches wait in ``pending_batches``. Ticks missed while the
service was down fire once (``dsw_kit.schedules.due_tick``). Firing changes the schedule's row
with its version checked, so two tickers never start the same tick twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsw_kit.db import Tenant, utcnow
from dsw_kit.errors import FieldError, NotFound, ProblemError, UnprocessableEntity
from dsw_kit.schedules import CronSchedule, ScheduleError, due_tick
from dsw_kit.web import UnitOfWork
from dsw_scoring import catalog
from dsw_scoring.models import ScoringRun, ScoringSchedule
from dsw_scoring.runs import service as runs
from dsw_scoring.runs.model_ref import resolve_model
from dsw_scoring.runs.schemas import ModelRef, OutputIn, RunCreate
from dsw_scoring.schedules.schemas import ScheduleCreate, ScheduleUpdate
from dsw_scoring.upstream import SERVICE_SCOPES, Upstreams

logger = logging.getLogger("dsw.scoring.schedules")


def _cron(
    cron: str | None, timezone: str, start: datetime | None, end: datetime | None
) -> CronSchedule | None:
    if cron is None:
        return None
    try:
        return CronSchedule.parse(cron, timezone, start, end)
    except ScheduleError as error:
        raise UnprocessableEntity(
            str(error),
            code="invalid_schedule",
            errors=[FieldError(pointer=f"/body/{error.field}", message=error.message)],
        ) from error


def _needs_a_trigger(cron: str | None, on_new_data: bool) -> None:
    if cron is None and not on_new_data:
        raise UnprocessableEntity(
            "a schedule needs a cron expression, on_new_data, or both",
            code="invalid_schedule",
            errors=[FieldError(pointer="/body/cron", message="give cron or on_new_data")],
        )


def create_schedule(
    work: UnitOfWork,
    catalog_client: httpx.Client,
    training_client: httpx.Client,
    body: ScheduleCreate,
    tracking_uri: str,
) -> ScoringSchedule:
    """Validate a schedule as a run would be validated now, then store it."""
    _needs_a_trigger(body.cron, body.on_new_data)
    cron = _cron(body.cron, body.timezone, body.start, body.end)
    ref = ModelRef(model_id=body.model.model_id, alias=body.model.alias)
    model = resolve_model(training_client, ref, tracking_uri)
    input_id = str(body.input_dataset_id)
    fields = catalog.dataset_fields(catalog_client, input_id, "/body/input_dataset_id")
    runs.match_inputs(model, fields)
    columns = runs.output_columns(model)
    if body.output.dataset_id is not None:
        output_id = str(body.output.dataset_id)
        catalog.match_output_dataset(catalog_client, output_id, columns)
    else:
        assert body.output.name is not None
        output_id, _ = catalog.create_output_dataset(catalog_client, body.output.name, columns)
    schedule = ScoringSchedule(
        name=body.name,
        training_model_id=str(body.model.model_id),
        alias=body.model.alias,
        input_dataset_id=input_id,
        output_dataset_id=output_id,
        cron=cron.cron if cron else None,
        timezone=cron.timezone if cron else body.timezone,
        start=body.start,
        end=body.end,
        on_new_data=body.on_new_data,
        enabled=body.enabled,
        next_fire_at=cron.next_after(utcnow()) if cron else None,
        pending_batches=[],
        tags=list(body.tags),
        created_by=work.context.subject,
    )
    work.session.add(schedule)
    work.session.flush()
    return schedule


def get_schedule(session: Session, schedule_id: uuid.UUID) -> ScoringSchedule:
    """The schedule, or 404 (also for another tenant's)."""
    schedule = session.scalar(select(ScoringSchedule).where(ScoringSchedule.id == schedule_id))
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found", code="schedule_not_found")
    return schedule


def update_schedule(work: UnitOfWork, schedule: ScoringSchedule, body: ScheduleUpdate) -> None:
    """Apply changes; a new cron or zone recomputes the next tick."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "alias", "on_new_data", "enabled"):
        if changes.get(name) is not None:
            setattr(schedule, name, changes[name])
    if "cron" in changes or "timezone" in changes:
        schedule.cron = changes.get("cron", schedule.cron)
        schedule.timezone = changes.get("timezone") or schedule.timezone
    _needs_a_trigger(schedule.cron, schedule.on_new_data)
    cron = _cron(schedule.cron, schedule.timezone, schedule.start, schedule.end)
    schedule.cron = cron.cron if cron else None
    if "cron" in changes or "timezone" in changes or changes.get("enabled"):
        schedule.next_fire_at = cron.next_after(utcnow()) if cron else None
    work.session.flush()


def active_run(session: Session, schedule_id: uuid.UUID) -> bool:
    """Whether a run of the schedule is queued or running."""
    count = session.scalar(
        select(func.count())
        .select_from(ScoringRun)
        .where(ScoringRun.schedule_id == schedule_id, ScoringRun.state.in_(("queued", "running")))
    )
    return bool(count)


def fire(
    session: Session,
    schedule: ScoringSchedule,
    upstreams: Upstreams,
    publish: runs.Publish,
    tracking_uri: str,
    now: datetime,
) -> ScoringRun | None:
    """Start the schedule's due run, if any (the caller's transaction commits or rolls back)."""
    cron = schedule.cron_schedule()
    tick = due_tick(cron, schedule.next_fire_at, now) if cron else None
    pending = list(schedule.pending_batches or [])
    if not (tick and tick.due) and not pending:
        return None
    if tick and tick.due:
        schedule.next_fire_at = tick.next_fire_at
        schedule.ticks_skipped += tick.missed
    if active_run(session, schedule.id):
        if tick and tick.due:
            schedule.ticks_skipped += 1  # no overlap: the running one covers this tick
        return None
    only_batch = None if tick and tick.due else pending[0]
    if only_batch is not None:
        schedule.pending_batches = pending[1:]
    body = RunCreate(
        model=ModelRef(model_id=uuid.UUID(schedule.training_model_id), alias=schedule.alias),
        input_dataset_id=uuid.UUID(schedule.input_dataset_id),
        output=OutputIn(dataset_id=uuid.UUID(schedule.output_dataset_id)),
        tags=["scheduled"],
    )
    tenant = Tenant(schedule.org_id, schedule.sandbox)
    schedule.last_fired_at = now
    try:
        with (
            upstreams.catalog.for_service(tenant, SERVICE_SCOPES) as catalog_client,
            upstreams.training.for_service(tenant, SERVICE_SCOPES) as training_client,
        ):
            run = runs.request_run(
                session,
                publish,
                f"schedule:{schedule.id}",
                catalog_client,
                training_client,
                body,
                tracking_uri=tracking_uri,
                trigger="new_data" if only_batch else "schedule",
                schedule_id=schedule.id,
                only_batch=only_batch,
            )
    except ProblemError as error:
        # The model has no such alias any more, the dataset went away...: skip, keep the reason.
        schedule.last_error = f"{error.instance_code}: {error.detail}"[:2000]
        logger.warning("schedule %s could not start a run: %s", schedule.id, error.detail)
        return None
    schedule.last_run_id = run.id
    schedule.last_error = None
    schedule.runs_started += 1
    return run
