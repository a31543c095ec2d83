"""Routes of sweeps: start a hyperparameter search over a model, follow it, cancel it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, idempotent_create, unit_of_work
from dsw_training.ml_models import service as models_service
from dsw_training.models import IdempotencyKey, Sweep
from dsw_training.sweeps import service
from dsw_training.sweeps.schemas import SweepCreate, SweepOut
from dsw_training.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/training/v1", tags=["sweeps"])


@router.post(
    "/models/{model_id}/sweeps",
    status_code=202,
    response_model=SweepOut,
    responses=problem_responses(404, 422, 502, 503),
    summary="Start a sweep: trials (runs) over a search space, best run by an objective metric",
)
def create_sweep(
    model_id: uuid.UUID,
    body: SweepCreate,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    model = models_service.get_model(work, model_id)

    def create() -> SweepOut:
        with upstreams.catalog.for_request(work.context) as catalog:
            sweep = service.create_sweep(work, catalog, model, body)
        return SweepOut.of(sweep, service.trial_counts(work.session, sweep.id))

    return idempotent_create(work, IdempotencyKey, body, create, status_code=202)


@router.get(
    "/models/{model_id}/sweeps",
    response_model=Page[SweepOut],
    responses=problem_responses(404),
    summary="List a model's sweeps",
)
def list_sweeps(
    model_id: uuid.UUID,
    params: PageParams = Depends(),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Page[SweepOut]:
    model = models_service.get_model(work, model_id)
    from sqlalchemy import select

    return paginate(
        work.session,
        select(Sweep).where(Sweep.model_id == model.id),
        params=params,
        sortable={"created": Sweep.created, "updated": Sweep.updated},
        tiebreaker=Sweep.id,
        to_item=lambda sweep: SweepOut.of(sweep, service.trial_counts(work.session, sweep.id)),
    )


@router.get(
    "/sweeps/{sweep_id}",
    response_model=SweepOut,
    responses=problem_responses(404),
    summary="Get a sweep: its trials by state and its best run",
)
def get_sweep(sweep_id: uuid.UUID, work: UnitOfWork = unit_of_work("training:read")) -> SweepOut:
    sweep = service.get_sweep(work, sweep_id)
    return SweepOut.of(sweep, service.trial_counts(work.session, sweep.id))


@router.post(
    "/sweeps/{sweep_id}/cancel",
    status_code=202,
    response_model=SweepOut,
    responses=problem_responses(404, 409),
    summary="Cancel a sweep and its queued and running trials",
)
def cancel_sweep(
    sweep_id: uuid.UUID, work: UnitOfWork = unit_of_work("training:write")
) -> SweepOut:
    sweep = service.cancel_sweep(work, service.get_sweep(work, sweep_id))
    return SweepOut.of(sweep, service.trial_counts(work.session, sweep.id))
