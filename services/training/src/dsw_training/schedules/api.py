"""Routes of schedules: retrain a model on a cron schedule and/or when new data lands."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_training.ml_models import service as models_service
from dsw_training.models import IdempotencyKey, TrainingRun, TrainingSchedule
from dsw_training.runs.schemas import RunOut
from dsw_training.schedules import service
from dsw_training.schedules.schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate
from dsw_training.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/training/v1/schedules", tags=["schedules"])


def _etag(schedule: ScheduleOut) -> dict[str, str]:
    return {"ETag": f'"{schedule.version}"'}


@router.post(
    "",
    status_code=201,
    response_model=ScheduleOut,
    responses=problem_responses(404, 422, 502, 503),
    summary="Create a schedule: cron (with time zone, start, end) and/or retrain on new data",
)
def create_schedule(
    body: ScheduleCreate,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    model = models_service.get_model(work, body.model_id)

    def create() -> ScheduleOut:
        with upstreams.recipes.for_request(work.context) as recipes:
            return ScheduleOut.of(service.create_schedule(work, recipes, model, body))

    return idempotent_create(
        work,
        IdempotencyKey,
        body,
        create,
        headers=lambda created: _etag(created),  # type: ignore[arg-type]
    )


@router.get("", response_model=Page[ScheduleOut], summary="List schedules")
def list_schedules(
    params: PageParams = Depends(),
    model_id: uuid.UUID | None = Query(None, description="Schedules of this model"),
    enabled: bool | None = Query(None, description="Only enabled (true) or disabled (false)"),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Page[ScheduleOut]:
    query = select(TrainingSchedule)
    if model_id is not None:
        query = query.where(TrainingSchedule.model_id == model_id)
    if enabled is not None:
        query = query.where(TrainingSchedule.enabled.is_(enabled))
    return paginate(
        work.session,
        query,
        params=params,
        sortable={
            "created": TrainingSchedule.created,
            "updated": TrainingSchedule.updated,
            "next_fire_at": TrainingSchedule.next_fire_at,
        },
        tiebreaker=TrainingSchedule.id,
        to_item=ScheduleOut.of,
    )


@router.get(
    "/{schedule_id}",
    response_model=ScheduleOut,
    responses=problem_responses(404),
    summary="Get a schedule: next tick, last run, last skip and why",
)
def get_schedule(
    schedule_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("training:read")
) -> ScheduleOut:
    schedule = ScheduleOut.of(service.get_schedule(work, schedule_id))
    response.headers.update(_etag(schedule))
    return schedule


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleOut,
    responses=problem_responses(404, 412, 422, 502, 503),
    summary="Update a schedule (If-Match supported); the next tick is counted from now",
)
def update_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> ScheduleOut:
    schedule = service.get_schedule(work, schedule_id)
    check_if_match(request, schedule.etag)
    model = models_service.get_model(work, schedule.model_id)
    with upstreams.recipes.for_request(work.context) as recipes:
        updated = ScheduleOut.of(service.update_schedule(work, recipes, model, schedule, body))
    response.headers.update(_etag(updated))
    return updated


def _toggle(
    schedule_id: uuid.UUID, enabled: bool, request: Request, response: Response, work: UnitOfWork
) -> ScheduleOut:
    schedule = service.get_schedule(work, schedule_id)
    check_if_match(request, schedule.etag)
    updated = ScheduleOut.of(service.set_enabled(work, schedule, enabled))
    response.headers.update(_etag(updated))
    return updated


@router.post(
    "/{schedule_id}/enable",
    response_model=ScheduleOut,
    responses=problem_responses(404, 412),
    summary="Enable a schedule (ticks missed while disabled are not run)",
)
def enable_schedule(
    schedule_id: uuid.UUID,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
) -> ScheduleOut:
    return _toggle(schedule_id, True, request, response, work)


@router.post(
    "/{schedule_id}/disable",
    response_model=ScheduleOut,
    responses=problem_responses(404, 412),
    summary="Disable a schedule (its running run, if any, continues)",
)
def disable_schedule(
    schedule_id: uuid.UUID,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
) -> ScheduleOut:
    return _toggle(schedule_id, False, request, response, work)


@router.delete(
    "/{schedule_id}",
    status_code=204,
    responses=problem_responses(404, 412),
    summary="Delete a schedule (its runs stay)",
)
def delete_schedule(
    schedule_id: uuid.UUID,
    request: Request,
    work: UnitOfWork = unit_of_work("training:write"),
) -> Response:
    schedule = service.get_schedule(work, schedule_id)
    check_if_match(request, schedule.etag)
    service.delete_schedule(work, schedule)
    return Response(status_code=204)


@router.get(
    "/{schedule_id}/runs",
    response_model=Page[RunOut],
    responses=problem_responses(404),
    summary="The runs a schedule started (newest first by default)",
)
def schedule_runs(
    schedule_id: uuid.UUID,
    params: PageParams = Depends(),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Page[RunOut]:
    schedule = service.get_schedule(work, schedule_id)
    if params.orderby is None:
        params.orderby = "-created"
    return paginate(
        work.session,
        select(TrainingRun).where(TrainingRun.schedule_id == schedule.id),
        params=params,
        sortable={"created": TrainingRun.created},
        tiebreaker=TrainingRun.id,
        to_item=RunOut.of,
    )
