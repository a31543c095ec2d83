"""Routes of scoring runs: request, list, follow, cancel, read logs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from dsw_kit.errors import NotFound, problem_responses
from dsw_kit.lake import Lake
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, idempotent_create, unit_of_work
from dsw_scoring.models import IdempotencyKey, ScoringRun
from dsw_scoring.runs import service
from dsw_scoring.runs.logs import log_path, read_tail
from dsw_scoring.runs.schemas import LogOut, RunCreate, RunOut, RunState
from dsw_scoring.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/scoring/v1", tags=["runs"])


@router.post(
    "/runs",
    status_code=202,
    response_model=RunOut,
    responses=problem_responses(422, 502, 503),
    summary="Queue a scoring run (model + input dataset + output dataset); honours Idempotency-Key",
)
def create_run(
    body: RunCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("scoring:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    tracking_uri = request.app.state.runtime.settings.platform.resolved_mlflow_tracking_uri

    def create() -> RunOut:
        with (
            upstreams.catalog.for_request(work.context) as catalog,
            upstreams.training.for_request(work.context) as training,
        ):
            run = service.request_run(
                work.session,
                work.publish,
                work.context.subject,
                catalog,
                training,
                body,
                tracking_uri=tracking_uri,
            )
            return RunOut.of(run)

    return idempotent_create(work, IdempotencyKey, body, create, status_code=202)


@router.get(
    "/runs",
    response_model=Page[RunOut],
    responses=problem_responses(400),
    summary="List scoring runs (newest first by default)",
)
def list_runs(
    params: PageParams = Depends(),
    state: RunState | None = Query(None, description="Runs in this state"),
    input_dataset_id: uuid.UUID | None = Query(None, description="Runs scoring this dataset"),
    schedule_id: uuid.UUID | None = Query(None, description="Runs started by this schedule"),
    work: UnitOfWork = unit_of_work("scoring:read"),
) -> Page[RunOut]:
    query = service.runs_query(
        state=state,
        input_dataset_id=str(input_dataset_id) if input_dataset_id else None,
        schedule_id=schedule_id,
    )
    return paginate(
        work.session,
        query,
        params=params,
        sortable={"created": ScoringRun.created, "updated": ScoringRun.updated},
        tiebreaker=ScoringRun.id,
        to_item=RunOut.of,
    )


@router.get(
    "/runs/{run_id}",
    response_model=RunOut,
    responses=problem_responses(404),
    summary="Get a scoring run: state, progress in rows, output batch",
)
def get_run(run_id: uuid.UUID, work: UnitOfWork = unit_of_work("scoring:read")) -> RunOut:
    return RunOut.of(service.get_run(work.session, run_id))


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    response_model=RunOut,
    responses=problem_responses(404, 409),
    summary="Cancel a scoring run (a running one stops at its next chunk)",
)
def cancel_run(run_id: uuid.UUID, work: UnitOfWork = unit_of_work("scoring:write")) -> RunOut:
    run = service.get_run(work.session, run_id)
    return RunOut.of(service.cancel_run(work, run))


@router.get(
    "/runs/{run_id}/logs",
    response_model=LogOut,
    responses=problem_responses(404),
    summary="The last lines of a scoring run's log (the latest attempt unless one is named)",
)
def run_logs(
    run_id: uuid.UUID,
    request: Request,
    tail: int = Query(200, ge=1, le=2000, description="Lines from the end"),
    attempt: int | None = Query(None, ge=1, description="Attempt (default: the latest)"),
    work: UnitOfWork = unit_of_work("scoring:read"),
) -> LogOut:
    run = service.get_run(work.session, run_id)
    chosen = attempt or run.attempts
    if chosen < 1 or chosen > max(run.attempts, 0):
        raise NotFound(f"scoring run {run_id} has no attempt {chosen} yet", code="log_not_found")
    lake = Lake(request.app.state.runtime.settings.platform.resolved_lake_uri)
    found = read_tail(lake, log_path(lake, work.tenant, run.id, chosen), tail)
    lines, truncated = found if found is not None else ([], False)
    return LogOut(run_id=run.id, attempt=chosen, lines=lines, truncated=truncated)
