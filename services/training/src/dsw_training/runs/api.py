"""Routes of training runs: request, follow, cancel, read logs, compare and chart."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from dsw_kit.errors import BadRequest, NotFound, problem_responses
from dsw_kit.lake import Lake
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, idempotent_create, unit_of_work
from dsw_training.ml_models import service as models_service
from dsw_training.ml_models.recipes import model_metric_direction
from dsw_training.models import IdempotencyKey, TrainingRun
from dsw_training.runs import repository, service
from dsw_training.runs.chart import Point, metric_chart
from dsw_training.runs.logs import log_path, read_tail
from dsw_training.runs.schemas import ComparisonOut, LogOut, RunCreate, RunOut, RunState
from dsw_training.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/training/v1", tags=["runs"])

_METRIC_PREFIX = "metrics."


@router.post(
    "/models/{model_id}/runs",
    status_code=202,
    response_model=RunOut,
    responses=problem_responses(404, 422, 502, 503),
    summary="Queue a training run (optional hyperparameter overrides and dataset)",
)
def create_run(
    model_id: uuid.UUID,
    body: RunCreate,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    model = models_service.get_model(work, model_id)

    def create() -> RunOut:
        with (
            upstreams.catalog.for_request(work.context) as catalog,
            upstreams.recipes.for_request(work.context) as recipes,
        ):
            return RunOut.of(service.request_run(work, catalog, recipes, model, body))

    return idempotent_create(work, IdempotencyKey, body, create, status_code=202)


@router.get(
    "/models/{model_id}/runs",
    response_model=Page[RunOut],
    responses=problem_responses(400, 404),
    summary="List a model's runs; orderby=-created (default) or metrics.<name> (e.g. metrics.rmse)",
)
def list_runs(
    model_id: uuid.UUID,
    params: PageParams = Depends(),
    state: RunState | None = Query(None, description="Runs in this state"),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Page[RunOut]:
    model = models_service.get_model(work, model_id)
    orderby = params.orderby or "-created"
    field = orderby.lstrip("-+")
    if field.startswith(_METRIC_PREFIX):
        metric = field.removeprefix(_METRIC_PREFIX)
        if not metric:
            raise BadRequest("name a metric, e.g. orderby=metrics.rmse", code="invalid_orderby")
        page = repository.page_by_metric(
            work.session,
            model.id,
            metric=metric,
            descending=orderby.startswith("-"),
            limit=params.limit,
            cursor=params.cursor,
            state=state,
        )
        return Page(items=[RunOut.of(run) for run in page.items], next=page.next)
    return paginate(
        work.session,
        repository.model_runs(model.id, state=state),
        params=params,
        sortable={"created": TrainingRun.created, "updated": TrainingRun.updated},
        tiebreaker=TrainingRun.id,
        to_item=RunOut.of,
    )


@router.get(
    "/runs/{run_id}",
    response_model=RunOut,
    responses=problem_responses(404),
    summary="Get a run: state, progress, metrics, MLflow run and model version",
)
def get_run(run_id: uuid.UUID, work: UnitOfWork = unit_of_work("training:read")) -> RunOut:
    return RunOut.of(service.get_run(work, run_id))


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    response_model=RunOut,
    responses=problem_responses(404, 409),
    summary="Cancel a run (a running one's training process is killed)",
)
def cancel_run(run_id: uuid.UUID, work: UnitOfWork = unit_of_work("training:write")) -> RunOut:
    run = service.get_run(work, run_id)
    return RunOut.of(service.cancel_run(work, run))


@router.get(
    "/runs/{run_id}/logs",
    response_model=LogOut,
    responses=problem_responses(404),
    summary="The last lines of a run's log (the latest attempt unless one is named)",
)
def run_logs(
    run_id: uuid.UUID,
    request: Request,
    tail: int = Query(200, ge=1, le=5000, description="Lines from the end"),
    attempt: int | None = Query(None, ge=1, description="Attempt (default: the latest)"),
    work: UnitOfWork = unit_of_work("training:read"),
) -> LogOut:
    run = service.get_run(work, run_id)
    chosen = attempt or run.attempts
    if chosen < 1 or chosen > max(run.attempts, 0):
        raise NotFound(f"run {run_id} has no attempt {chosen} yet", code="log_not_found")
    lake = Lake(request.app.state.runtime.settings.platform.resolved_lake_uri)
    found = read_tail(lake, log_path(lake, work.tenant, run.id, chosen), tail)
    lines, truncated = found if found is not None else ([], False)
    return LogOut(run_id=run.id, attempt=chosen, lines=lines, truncated=truncated)


def _run_ids(text: str) -> list[uuid.UUID]:
    try:
        ids = [uuid.UUID(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise BadRequest("runs must be comma-separated run ids", code="invalid_runs") from error
    if not ids or len(ids) > 100:
        raise BadRequest("name between 1 and 100 runs", code="invalid_runs")
    return ids


@router.get(
    "/models/{model_id}/compare",
    response_model=ComparisonOut,
    responses=problem_responses(400, 404),
    summary="Parameters and metrics of runs side by side, and the best run for a metric",
)
def compare(
    model_id: uuid.UUID,
    runs: str | None = Query(
        None, description="Comma-separated run ids (default: the latest 20 succeeded runs)"
    ),
    metric: str | None = Query(None, description="Metric that names the best run, e.g. rmse"),
    direction: Literal["min", "max"] | None = Query(
        None, description="Whether lower or higher wins (default: as the model's recipe says)"
    ),
    work: UnitOfWork = unit_of_work("training:read"),
) -> ComparisonOut:
    model = models_service.get_model(work, model_id)
    if direction is None:
        direction = model_metric_direction(model, metric) if metric else "min"
    if runs:
        ids = _run_ids(runs)
        chosen = repository.runs_by_ids(work.session, model.id, ids)
        missing = {str(run_id) for run_id in ids} - {str(run.id) for run in chosen}
        if missing:
            raise NotFound(
                f"not runs of model {model_id}: {', '.join(sorted(missing))}", code="run_not_found"
            )
    else:
        chosen = repository.recent_runs(work.session, model.id, state="succeeded", limit=20)
    return service.compare_runs(chosen, metric, direction)


@router.get(
    "/models/{model_id}/chart.svg",
    responses={**problem_responses(400, 404), 200: {"content": {"image/svg+xml": {}}}},
    response_class=Response,
    summary="An SVG bar chart of a metric across the model's runs (best highlighted)",
)
def chart(
    model_id: uuid.UUID,
    metric: str = Query(..., min_length=1, max_length=128, description="e.g. mape"),
    direction: Literal["min", "max"] | None = Query(
        None, description="Whether lower or higher wins (default: as the model's recipe says)"
    ),
    runs: str | None = Query(None, description="Comma-separated run ids (default: latest 30)"),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Response:
    model = models_service.get_model(work, model_id)
    if direction is None:
        direction = model_metric_direction(model, metric)
    if runs:
        chosen = repository.runs_by_ids(work.session, model.id, _run_ids(runs))
    else:
        chosen = repository.recent_runs(work.session, model.id, state="succeeded", limit=30)
    comparison = service.compare_runs(chosen, metric, direction) if chosen else None
    best = comparison.best.run_id if comparison and comparison.best else None
    points = [
        Point(
            label=f"{run.created:%m-%d %H:%M} {str(run.id)[:8]}",
            value=float(run.metrics[metric]),
            best=run.id == best,
        )
        for run in chosen
        if metric in (run.metrics or {})
    ]
    svg = metric_chart(metric, points, title=f"{model.name}: {metric} by run")
    return Response(svg, media_type="image/svg+xml")
