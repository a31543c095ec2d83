"""Routes of scoring schedules: create, list, get, change (If-Match), delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_scoring.models import IdempotencyKey, ScoringSchedule
from dsw_scoring.schedules import service
from dsw_scoring.schedules.schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate
from dsw_scoring.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/scoring/v1", tags=["schedules"])


def _etag(schedule: ScoringSchedule) -> dict[str, str]:
    return {"ETag": schedule.etag}


@router.post(
    "/schedules",
    status_code=201,
    response_model=ScheduleOut,
    responses=problem_responses(422, 502, 503),
    summary="Create a scoring schedule (cron and/or on new data); honours Idempotency-Key",
)
def create_schedule(
    body: ScheduleCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("scoring:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    tracking_uri = request.app.state.runtime.settings.platform.resolved_mlflow_tracking_uri

    def create() -> ScheduleOut:
        with (
            upstreams.catalog.for_request(work.context) as catalog,
            upstreams.training.for_request(work.context) as training,
        ):
            schedule = service.create_schedule(work, catalog, training, body, tracking_uri)
            return ScheduleOut.of(schedule)

    return idempotent_create(work, IdempotencyKey, body, create)


@router.get("/schedules", response_model=Page[ScheduleOut], summary="List scoring schedules")
def list_schedules(
    params: PageParams = Depends(), work: UnitOfWork = unit_of_work("scoring:read")
) -> Page[ScheduleOut]:
    return paginate(
        work.session,
        select(ScoringSchedule),
        params=params,
        sortable={"created": ScoringSchedule.created, "name": ScoringSchedule.name},
        tiebreaker=ScoringSchedule.id,
        to_item=ScheduleOut.of,
    )


@router.get(
    "/schedules/{schedule_id}",
    response_model=ScheduleOut,
    responses=problem_responses(404),
    summary="Get a scoring schedule (ETag for updates)",
)
def get_schedule(
    schedule_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("scoring:read")
) -> ScheduleOut:
    schedule = service.get_schedule(work.session, schedule_id)
    response.headers.update(_etag(schedule))
    return ScheduleOut.of(schedule)


@router.patch(
    "/schedules/{schedule_id}",
    response_model=ScheduleOut,
    responses=problem_responses(404, 412, 422),
    summary="Change a schedule (name, alias, cron, time zone, on_new_data, enabled)",
)
def update_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("scoring:write"),
) -> ScheduleOut:
    schedule = service.get_schedule(work.session, schedule_id)
    check_if_match(request, schedule.etag)
    service.update_schedule(work, schedule, body)
    response.headers.update(_etag(schedule))
    return ScheduleOut.of(schedule)


@router.delete(
    "/schedules/{schedule_id}",
    status_code=204,
    responses=problem_responses(404, 412),
    summary="Delete a schedule (its runs stay)",
)
def delete_schedule(
    schedule_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("scoring:write")
) -> Response:
    schedule = service.get_schedule(work.session, schedule_id)
    check_if_match(request, schedule.etag)
    work.session.delete(schedule)
    work.session.flush()
    return Response(status_code=204)
