"""Routes of models (DSW MLInstances)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_training.ml_models import repository, service
from dsw_training.ml_models.schemas import AliasSet, ModelCreate, ModelOut, ModelUpdate
from dsw_training.models import IdempotencyKey, TrainingModel
from dsw_training.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/training/v1/models", tags=["models"])


def _etag_headers(model: ModelOut) -> dict[str, str]:
    return {"ETag": f'"{model.version}"'}


def _out(work: UnitOfWork, model: TrainingModel) -> ModelOut:
    return ModelOut.of(model, repository.latest_succeeded_run(work.session, model.id))


def _tracking_uri(request: Request) -> str:
    return str(request.app.state.runtime.settings.platform.resolved_mlflow_tracking_uri)


@router.post(
    "",
    status_code=201,
    response_model=ModelOut,
    responses=problem_responses(409, 422, 502, 503),
    summary="Create a model: a recipe version, hyperparameters and a training dataset",
)
def create_model(
    body: ModelCreate,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    def create() -> ModelOut:
        with (
            upstreams.catalog.for_request(work.context) as catalog,
            upstreams.recipes.for_request(work.context) as recipes,
        ):
            return ModelOut.of(service.create_model(work, catalog, recipes, body))

    return idempotent_create(
        work,
        IdempotencyKey,
        body,
        create,
        headers=lambda created: _etag_headers(created),  # type: ignore[arg-type]
    )


@router.get("", response_model=Page[ModelOut], summary="List models")
def list_models(
    params: PageParams = Depends(),
    name: str | None = Query(None, description="Models whose name contains this text"),
    tag: str | None = Query(None, description="Models carrying this tag"),
    recipe_id: str | None = Query(None, description="Models of this recipe"),
    work: UnitOfWork = unit_of_work("training:read"),
) -> Page[ModelOut]:
    return paginate(
        work.session,
        repository.live_models(name=name, tag=tag, recipe_id=recipe_id),
        params=params,
        sortable={
            "created": TrainingModel.created,
            "name": TrainingModel.name,
            "updated": TrainingModel.updated,
        },
        tiebreaker=TrainingModel.id,
        to_item=lambda model: _out(work, model),
    )


@router.get(
    "/{model_id}",
    response_model=ModelOut,
    responses=problem_responses(404),
    summary="Get a model",
)
def get_model(
    model_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("training:read")
) -> ModelOut:
    model = _out(work, service.get_model(work, model_id))
    response.headers.update(_etag_headers(model))
    return model


@router.patch(
    "/{model_id}",
    response_model=ModelOut,
    responses=problem_responses(404, 412, 422, 502, 503),
    summary="Update a model (If-Match supported); queued runs keep their parameters",
)
def update_model(
    model_id: uuid.UUID,
    body: ModelUpdate,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> ModelOut:
    model = service.get_model(work, model_id)
    check_if_match(request, model.etag)
    with (
        upstreams.catalog.for_request(work.context) as catalog,
        upstreams.recipes.for_request(work.context) as recipes,
    ):
        updated = _out(work, service.update_model(work, catalog, recipes, model, body))
    response.headers.update(_etag_headers(updated))
    return updated


@router.delete(
    "/{model_id}",
    status_code=204,
    responses=problem_responses(404, 409, 412),
    summary="Delete a model (refused while runs are queued or running, unless cancel_runs)",
)
def delete_model(
    model_id: uuid.UUID,
    request: Request,
    cancel_runs: bool = Query(False, description="Cancel the model's queued and running runs"),
    work: UnitOfWork = unit_of_work("training:write"),
) -> Response:
    model = service.get_model(work, model_id)
    check_if_match(request, model.etag)
    service.delete_model(work, model, cancel_runs=cancel_runs)
    return Response(status_code=204)


@router.post(
    "/{model_id}/aliases/{alias}",
    response_model=ModelOut,
    responses=problem_responses(404, 409, 412, 422, 503),
    summary="Point a registry alias (e.g. champion) at the version a succeeded run registered",
)
def set_alias(
    model_id: uuid.UUID,
    alias: str,
    body: AliasSet,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
) -> ModelOut:
    model = service.get_model(work, model_id)
    check_if_match(request, model.etag)
    updated = _out(work, service.set_alias(work, model, alias, body.run_id, _tracking_uri(request)))
    response.headers.update(_etag_headers(updated))
    return updated


@router.delete(
    "/{model_id}/aliases/{alias}",
    response_model=ModelOut,
    responses=problem_responses(404, 412, 503),
    summary="Remove a registry alias set by hand",
)
def remove_alias(
    model_id: uuid.UUID,
    alias: str,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("training:write"),
) -> ModelOut:
    model = service.get_model(work, model_id)
    check_if_match(request, model.etag)
    updated = _out(work, service.remove_alias(work, model, alias, _tracking_uri(request)))
    response.headers.update(_etag_headers(updated))
    return updated
