"""Routes of datasets."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from dsw_catalog.datasets import repository, service
from dsw_catalog.datasets.schemas import DatasetCreate, DatasetOut, DatasetUpdate
from dsw_catalog.models import Dataset, IdempotencyKey
from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work

router = APIRouter(prefix="/catalog/v1/datasets", tags=["datasets"])


def _etag_headers(dataset: DatasetOut) -> dict[str, str]:
    return {"ETag": f'"{dataset.version}"'}


@router.post(
    "",
    status_code=201,
    response_model=DatasetOut,
    responses=problem_responses(409, 422),
    summary="Create a dataset",
)
def create_dataset(
    body: DatasetCreate, work: UnitOfWork = unit_of_work("catalog:write")
) -> JSONResponse:
    return idempotent_create(
        work,
        IdempotencyKey,
        body,
        lambda: DatasetOut.of(service.create_dataset(work, body)),
        headers=lambda created: _etag_headers(created),  # type: ignore[arg-type]
    )


@router.get("", response_model=Page[DatasetOut], summary="List datasets")
def list_datasets(
    params: PageParams = Depends(),
    name: str | None = Query(None, description="Datasets whose name contains this text"),
    tag: str | None = Query(None, description="Datasets carrying this tag"),
    schema_id: str | None = Query(None, description="Datasets of this XDM schema"),
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> Page[DatasetOut]:
    return paginate(
        work.session,
        repository.live_datasets(name=name, tag=tag, schema_id=schema_id),
        params=params,
        sortable={"created": Dataset.created, "name": Dataset.name, "updated": Dataset.updated},
        tiebreaker=Dataset.id,
        to_item=DatasetOut.of,
    )


@router.get(
    "/{dataset_id}",
    response_model=DatasetOut,
    responses=problem_responses(404),
    summary="Get a dataset",
)
def get_dataset(
    dataset_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("catalog:read")
) -> DatasetOut:
    dataset = DatasetOut.of(service.get_dataset(work, dataset_id))
    response.headers.update(_etag_headers(dataset))
    return dataset


@router.patch(
    "/{dataset_id}",
    response_model=DatasetOut,
    responses=problem_responses(404, 409, 412),
    summary="Update a dataset's metadata (If-Match supported)",
)
def update_dataset(
    dataset_id: uuid.UUID,
    body: DatasetUpdate,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("catalog:write"),
) -> DatasetOut:
    dataset = service.get_dataset(work, dataset_id)
    check_if_match(request, dataset.etag)
    updated = DatasetOut.of(service.update_dataset(work, dataset, body))
    response.headers.update(_etag_headers(updated))
    return updated


@router.delete(
    "/{dataset_id}",
    status_code=204,
    responses=problem_responses(404, 412),
    summary="Delete a dataset (soft; data stays until purged)",
)
def delete_dataset(
    dataset_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("catalog:write")
) -> Response:
    dataset = service.get_dataset(work, dataset_id)
    check_if_match(request, dataset.etag)
    service.delete_dataset(work, dataset)
    return Response(status_code=204)
