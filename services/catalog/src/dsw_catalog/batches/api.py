"""Routes of batches: create, upload files, complete, abort, read status and error reports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from dsw_catalog.batches import service
from dsw_catalog.batches.schemas import BatchCreate, BatchFileOut, BatchOut
from dsw_catalog.batches.worker import dataset_path
from dsw_catalog.datasets import service as datasets
from dsw_catalog.models import Batch, IdempotencyKey
from dsw_catalog.settings import CatalogSettings
from dsw_kit.auth import RequestContext, require
from dsw_kit.errors import NotFound, problem_responses
from dsw_kit.lake import Lake
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, idempotent_create, unit_of_work

router = APIRouter(prefix="/catalog/v1", tags=["batches"])
UPLOAD_PREFIX = "/catalog/v1/batches/"


def lake_of(request: Request) -> Lake:
    """The lake of the catalog serving ``request``."""
    settings: CatalogSettings = request.app.state.runtime.settings
    return Lake(settings.platform.resolved_lake_uri)


def _out(work: UnitOfWork, batch: Batch) -> BatchOut:
    return BatchOut.of(batch, service.files_of(work.session, batch.id))


@router.post(
    "/datasets/{dataset_id}/batches",
    status_code=201,
    response_model=BatchOut,
    responses=problem_responses(404, 422),
    summary="Open a batch: upload its files, then complete it",
)
def create_batch(
    dataset_id: uuid.UUID, body: BatchCreate, work: UnitOfWork = unit_of_work("catalog:write")
) -> JSONResponse:
    return idempotent_create(
        work, IdempotencyKey, body, lambda: _out(work, service.create_batch(work, dataset_id, body))
    )


@router.get(
    "/datasets/{dataset_id}/batches",
    response_model=Page[BatchOut],
    responses=problem_responses(404),
    summary="List a dataset's batches",
)
def list_batches(
    dataset_id: uuid.UUID,
    params: PageParams = Depends(),
    status: Literal["loading", "processing", "success", "partial", "failed", "aborted"]
    | None = Query(None),
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> Page[BatchOut]:
    datasets.get_dataset(work, dataset_id)
    query = select(Batch).where(Batch.dataset_id == dataset_id)
    if status:
        query = query.where(Batch.status == status)
    return paginate(
        work.session,
        query,
        params=params,
        sortable={"created": Batch.created, "updated": Batch.updated},
        tiebreaker=Batch.id,
        to_item=lambda batch: _out(work, batch),
    )


@router.get(
    "/batches/{batch_id}",
    response_model=BatchOut,
    responses=problem_responses(404),
    summary="Get a batch (status, counts, files)",
)
def get_batch(batch_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")) -> BatchOut:
    return _out(work, service.get_batch(work.session, batch_id))


@router.put(
    "/batches/{batch_id}/files/{name}",
    response_model=BatchFileOut,
    responses=problem_responses(400, 404, 409, 413),
    summary="Upload (or replace) one file of a loading batch; the body is the file's bytes",
)
async def upload_file(
    batch_id: uuid.UUID,
    name: str,
    request: Request,
    context: RequestContext = Depends(require("catalog:write")),
) -> BatchFileOut:
    service.check_file_name(name)
    runtime = request.app.state.runtime
    settings: CatalogSettings = runtime.settings
    lake = lake_of(request)

    def check() -> None:
        with runtime.database.session(context.tenant) as session:
            service.ensure_loading(service.get_batch(session, batch_id))

    await run_in_threadpool(check)
    path = service.upload_path(lake, context.tenant, batch_id, name)
    size, sha256 = await service.store_upload(lake, path, request.stream(), settings.max_file_bytes)

    def record() -> BatchFileOut:
        with runtime.database.session(context.tenant) as session:
            batch = service.get_batch(session, batch_id)
            # The batch may have been completed or aborted while the bytes were arriving.
            service.ensure_loading(batch)
            return BatchFileOut.of(service.record_upload(session, batch, name, size, sha256))

    return await run_in_threadpool(record)


@router.post(
    "/batches/{batch_id}/complete",
    status_code=202,
    response_model=BatchOut,
    responses=problem_responses(404, 409, 422),
    summary="Complete a batch: ingestion starts asynchronously",
)
def complete_batch(
    batch_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:write")
) -> BatchOut:
    batch = service.complete_batch(work, service.get_batch(work.session, batch_id))
    return _out(work, batch)


@router.post(
    "/batches/{batch_id}/abort",
    response_model=BatchOut,
    responses=problem_responses(404, 409),
    summary="Abort a batch that has not finished",
)
def abort_batch(batch_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:write")) -> BatchOut:
    batch = service.abort_batch(work, service.get_batch(work.session, batch_id))
    return _out(work, batch)


@router.get(
    "/batches/{batch_id}/errors",
    responses={**problem_responses(404), 200: {"content": {"application/x-ndjson": {}}}},
    summary="The rejected rows of a batch (JSON lines: file, row, path, rule, message)",
)
def get_error_report(
    batch_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("catalog:read")
) -> StreamingResponse:
    batch = service.get_batch(work.session, batch_id)
    if not batch.has_error_report:
        raise NotFound("this batch has no rejected rows", code="no_error_report")
    lake = lake_of(request)
    path = dataset_path(lake, work.tenant, batch.dataset_id, "_errors", f"{batch.id}.jsonl")
    return StreamingResponse(stream_file(lake, path), media_type="application/x-ndjson")


def stream_file(lake: Lake, path: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
    """The bytes of a lake file, in chunks (a sync iterator: Starlette runs it in a thread)."""
    with lake.filesystem.open_input_stream(path, compression=None) as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk
