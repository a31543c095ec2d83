"""Use cases of batches: create, upload files, complete, abort (processing is in worker.py)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_catalog.batches.schemas import BatchCreate
from dsw_catalog.datasets import service as datasets
from dsw_catalog.models import Batch, BatchFile, Dataset
from dsw_contracts import EventPayload
from dsw_kit.db import Tenant, utcnow
from dsw_kit.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, UnprocessableEntity
from dsw_kit.lake import Lake
from dsw_kit.web import UnitOfWork

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
FINAL_STATES = ("success", "partial", "failed", "aborted")


class BatchRequested(EventPayload):
    """``dsw.catalog.batch.requested``: a batch waits for an ingestion worker."""

    dataset_id: str
    batch_id: str


def upload_path(lake: Lake, tenant: Tenant, batch_id: uuid.UUID, name: str = "") -> str:
    """Where a batch's uploaded files wait for processing (in the lake, so workers see them)."""
    parts = ["_uploads", str(batch_id)] + ([name] if name else [])
    return lake.path(tenant, *parts)


def create_batch(work: UnitOfWork, dataset_id: uuid.UUID, request: BatchCreate) -> Batch:
    """Open a batch on a live dataset that has a schema."""
    dataset = datasets.get_dataset(work, dataset_id)
    if dataset.schema_id is None:
        raise UnprocessableEntity(
            "the dataset has no schema; set one before ingesting", code="dataset_without_schema"
        )
    batch = Batch(
        dataset_id=dataset.id,
        input_format=request.format,
        compression=request.compression,
        unknown_columns=request.unknown_columns,
        options={"column_mapping": request.column_mapping, "formats": request.formats},
        tags=request.tags,
        created_by=work.context.subject,
    )
    work.session.add(batch)
    work.session.flush()
    return batch


def get_batch(session: Session, batch_id: uuid.UUID) -> Batch:
    """A batch of the session's tenant (of a live dataset), or 404."""
    batch = session.scalar(
        select(Batch)
        .join(Dataset, Dataset.id == Batch.dataset_id)
        .where(Batch.id == batch_id, Dataset.deleted_at.is_(None))
    )
    if batch is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    return batch


def files_of(session: Session, batch_id: uuid.UUID) -> list[BatchFile]:
    """The batch's uploaded files, by name."""
    return list(
        session.scalars(
            select(BatchFile).where(BatchFile.batch_id == batch_id).order_by(BatchFile.name)
        )
    )


def check_file_name(name: str) -> None:
    """Refuse names that could escape the batch's folder or surprise a file system."""
    if not _FILE_NAME.match(name) or ".." in name:
        raise BadRequest(
            f"invalid file name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no path separators or '..')",
            code="invalid_file_name",
        )


def ensure_loading(batch: Batch) -> None:
    """Uploads and completion need a batch that is still loading."""
    if batch.status != "loading":
        raise Conflict(
            f"the batch is {batch.status}; files can only be added while it is loading "
            "(create a new batch)",
            code="batch_not_loading",
        )


async def store_upload(
    lake: Lake, path: str, chunks: AsyncIterator[bytes], max_bytes: int
) -> tuple[int, str]:
    """Stream an upload to ``path`` (via a temporary name); its size and SHA-256."""
    from starlette.concurrency import run_in_threadpool

    temporary = f"{path}.part-{uuid.uuid4().hex[:8]}"
    await run_in_threadpool(lake.make_dirs, path.rsplit("/", 1)[0])
    digest = hashlib.sha256()
    size = 0
    out = await run_in_threadpool(lake.filesystem.open_output_stream, temporary, compression=None)
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than {max_bytes} bytes", code="file_too_large"
                )
            digest.update(chunk)
            await run_in_threadpool(out.write, chunk)
        await run_in_threadpool(out.close)
        await run_in_threadpool(lake.filesystem.move, temporary, path)
    except BaseException:
        if not out.closed:
            await run_in_threadpool(out.close)
        await run_in_threadpool(_delete_quietly, lake, temporary)
        raise
    return size, digest.hexdigest()


def _delete_quietly(lake: Lake, path: str) -> None:
    with contextlib.suppress(OSError):
        lake.filesystem.delete_file(path)


def record_upload(session: Session, batch: Batch, name: str, size: int, sha256: str) -> BatchFile:
    """Record (or replace) the file ``name`` of the batch."""
    file = session.scalar(
        select(BatchFile).where(BatchFile.batch_id == batch.id, BatchFile.name == name)
    )
    if file is None:
        file = BatchFile(batch_id=batch.id, name=name, size=size, sha256=sha256)
        session.add(file)
    else:
        file.size, file.sha256, file.uploaded = size, sha256, utcnow()
    batch.updated = utcnow()
    session.flush()
    return file


def complete_batch(work: UnitOfWork, batch: Batch) -> Batch:
    """Hand the batch to the ingestion workers."""
    ensure_loading(batch)
    if not files_of(work.session, batch.id):
        raise UnprocessableEntity("the batch has no files; upload at least one", code="batch_empty")
    batch.status = "processing"
    batch.completed_at = utcnow()
    work.session.flush()
    work.publish(
        "dsw.catalog.batch.requested",
        str(batch.id),
        BatchRequested(dataset_id=str(batch.dataset_id), batch_id=str(batch.id)),
    )
    return batch


def abort_batch(work: UnitOfWork, batch: Batch) -> Batch:
    """Abort a batch that has not finished; nothing of it becomes visible."""
    if batch.status in FINAL_STATES:
        raise Conflict(f"the batch is already {batch.status}", code="batch_finished")
    batch.status = "aborted"
    batch.finished_at = utcnow()
    batch.lease_owner, batch.lease_expires = None, None
    work.session.flush()
    return batch
