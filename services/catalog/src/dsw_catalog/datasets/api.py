"""Routes of datasets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from dsw_catalog.batches.api import stream_file
from dsw_catalog.datasets import data, repository, service
from dsw_catalog.datasets.schemas import (
    DataFileOut,
    DatasetCreate,
    DatasetOut,
    DatasetUpdate,
    RowsOut,
)
from dsw_catalog.models import Dataset, IdempotencyKey
from dsw_kit.errors import NotFound, problem_responses
from dsw_kit.lake import Lake
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
    page = paginate(
        work.session,
        repository.live_datasets(name=name, tag=tag, schema_id=schema_id),
        params=params,
        sortable={"created": Dataset.created, "name": Dataset.name, "updated": Dataset.updated},
        tiebreaker=Dataset.id,
        to_item=DatasetOut.of,
    )
    # Rows, batches and size of the whole page in one query, as the single-dataset view has them.
    counts = data.summaries(work.session, [item.id for item in page.items])
    page.items = [item.model_copy(update=counts[item.id]) for item in page.items]
    return page


@router.get(
    "/{dataset_id}",
    response_model=DatasetOut,
    responses=problem_responses(404),
    summary="Get a dataset",
)
def get_dataset(
    dataset_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("catalog:read")
) -> DatasetOut:
    found = service.get_dataset(work, dataset_id)
    dataset = DatasetOut.of(found).model_copy(
        update={
            **data.summary(work.session, found.id),
            **data.identity_summary(work.session, found),
        }
    )
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


def _lake(request: Request) -> Lake:
    return Lake(request.app.state.runtime.settings.platform.resolved_lake_uri)


@router.get(
    "/{dataset_id}/files",
    response_model=list[DataFileOut],
    responses=problem_responses(404),
    summary="The Parquet files readers see now (successful batches), with their lake URIs",
)
def list_files(
    dataset_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("catalog:read")
) -> list[DataFileOut]:
    dataset = service.get_dataset(work, dataset_id)
    files = data.visible_files(work.session, _lake(request), work.tenant, dataset.id)
    return [
        DataFileOut(batch_id=f.batch_id, name=f.name, uri=f.uri, rows=f.rows, bytes=f.bytes)
        for f in files
    ]


@router.get(
    "/{dataset_id}/files/{batch_id}/{name}",
    responses={**problem_responses(404), 200: {"content": {"application/vnd.apache.parquet": {}}}},
    summary="Download one Parquet file of a successful batch",
)
def download_file(
    dataset_id: uuid.UUID,
    batch_id: uuid.UUID,
    name: str,
    request: Request,
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> StreamingResponse:
    dataset = service.get_dataset(work, dataset_id)
    lake = _lake(request)
    for file in data.visible_files(work.session, lake, work.tenant, dataset.id):
        if file.batch_id == batch_id and file.name == name:
            return StreamingResponse(
                stream_file(lake, file.path),
                media_type="application/vnd.apache.parquet",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
    raise NotFound(f"no file {name!r} in a successful batch {batch_id}", code="file_not_found")


@router.get(
    "/{dataset_id}/preview",
    response_model=RowsOut,
    responses=problem_responses(404),
    summary="The first rows of a dataset as JSON",
)
def preview(
    dataset_id: uuid.UUID,
    request: Request,
    limit: int = Query(10, ge=1, le=1000),
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> RowsOut:
    dataset = service.get_dataset(work, dataset_id)
    table = data.open_dataset(work.session, _lake(request), work.tenant, dataset).head(limit)
    rows = data.rows_as_json(table)
    return RowsOut(rows=rows, count=len(rows))


@router.get(
    "/{dataset_id}/rows",
    response_model=RowsOut,
    responses=problem_responses(400, 404, 422),
    summary="Rows whose timestamp field is within [since, until)",
)
def rows_in_window(
    dataset_id: uuid.UUID,
    request: Request,
    since: datetime | None = Query(None, description="RFC 3339, inclusive"),
    until: datetime | None = Query(None, description="RFC 3339, exclusive"),
    limit: int = Query(100, ge=1, le=1000),
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> RowsOut:
    dataset = service.get_dataset(work, dataset_id)
    opened = data.open_dataset(work.session, _lake(request), work.tenant, dataset)
    rows = data.rows_as_json(data.rows_in_window(opened, dataset, since, until, limit))
    return RowsOut(rows=rows, count=len(rows))


@router.get(
    "/{dataset_id}/statistics",
    responses=problem_responses(404),
    summary="Per-column statistics merged across successful batches",
)
def statistics(
    dataset_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")
) -> dict[str, Any]:
    dataset = service.get_dataset(work, dataset_id)
    return data.statistics(work.session, dataset.id)


@router.post(
    "/{dataset_id}/purge",
    status_code=204,
    responses=problem_responses(404, 409),
    summary="Delete the data of a deleted dataset from the lake (irreversible)",
)
def purge(
    dataset_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("catalog:admin")
) -> Response:
    service.purge_dataset(work, _lake(request), dataset_id)
    return Response(status_code=204)
