"""Reading a dataset's visible data: the files of its successful batches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsw_catalog.batches.statistics import merge
from dsw_catalog.batches.worker import dataset_path
from dsw_catalog.models import Batch, Dataset, XdmSchema
from dsw_catalog.xdm_schemas.service import composed
from dsw_kit.db import Tenant
from dsw_kit.errors import BadRequest, UnprocessableEntity
from dsw_kit.lake import Lake, open_files
from dsw_xdm import to_arrow_schema

VISIBLE = ("success", "partial")


@dataclass
class DataFile:
    """One Parquet file of a successful batch."""

    batch_id: uuid.UUID
    name: str
    path: str
    uri: str
    rows: int
    bytes: int


def visible_batches(session: Session, dataset_id: uuid.UUID) -> list[Batch]:
    """Successful (or partially successful) batches, oldest first."""
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.dataset_id == dataset_id, Batch.status.in_(VISIBLE))
            .order_by(Batch.finished_at, Batch.id)
        )
    )


def visible_files(
    session: Session, lake: Lake, tenant: Tenant, dataset_id: uuid.UUID
) -> list[DataFile]:
    """Every file readers may see right now."""
    files = []
    for batch in visible_batches(session, dataset_id):
        for output in batch.outputs:
            path = dataset_path(lake, tenant, dataset_id, str(batch.id), output["file"])
            files.append(
                DataFile(
                    batch.id,
                    output["file"],
                    path,
                    lake.uri_of(path),
                    int(output["rows"]),
                    int(output["bytes"]),
                )
            )
    return files


def summary(session: Session, dataset_id: uuid.UUID) -> dict[str, Any]:
    """Row count, size, batch count and last ingestion of a dataset."""
    return summaries(session, [dataset_id])[dataset_id]


def summaries(session: Session, dataset_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """:func:`summary` of several datasets in one query (a page of the list)."""
    found = {
        dataset_id: {
            "row_count": int(rows),
            "size_bytes": int(size),
            "batch_count": int(count),
            "last_ingestion": last,
        }
        for dataset_id, rows, size, count, last in session.execute(
            select(
                Batch.dataset_id,
                func.coalesce(func.sum(Batch.rows_written), 0),
                func.coalesce(func.sum(Batch.bytes_written), 0),
                func.count(Batch.id),
                func.max(Batch.finished_at),
            )
            .where(Batch.dataset_id.in_(dataset_ids), Batch.status.in_(VISIBLE))
            .group_by(Batch.dataset_id)
        )
    }
    empty = {"row_count": 0, "size_bytes": 0, "batch_count": 0, "last_ingestion": None}
    return {dataset_id: found.get(dataset_id, dict(empty)) for dataset_id in dataset_ids}


def identity_summary(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The identity fields of the dataset's schema version and where its primary identity is."""
    if dataset.schema_id is None:
        return {}
    schema = session.get(XdmSchema, uuid.UUID(dataset.schema_id))
    if schema is None:
        return {}
    result = composed(schema, dataset.schema_version)
    return {
        "identities": [
            {"path": i.path, "namespace": i.namespace, "primary": i.primary}
            for i in result.identities
        ],
        "primary_identity": result.primary_identity,
    }


def arrow_schema_of(session: Session, dataset: Dataset) -> pa.Schema | None:
    """The Arrow schema the dataset's files are written with."""
    if dataset.schema_id is None:
        return None
    schema = session.get(XdmSchema, uuid.UUID(dataset.schema_id))
    if schema is None:
        return None
    # Read through the dataset's schema version: batches written with an earlier version read
    # with the fields added since as nulls.
    return to_arrow_schema(composed(schema, dataset.schema_version))


def open_dataset(session: Session, lake: Lake, tenant: Tenant, dataset: Dataset) -> ds.Dataset:
    """A ``pyarrow.dataset.Dataset`` of what is visible now."""
    uris = [file.uri for file in visible_files(session, lake, tenant, dataset.id)]
    return open_files(uris, arrow_schema_of(session, dataset))


def statistics(session: Session, dataset_id: uuid.UUID) -> dict[str, Any]:
    """Column statistics merged across the visible batches."""
    return merge([batch.statistics for batch in visible_batches(session, dataset_id)])


def rows_as_json(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (dates and times as ISO 8601 text)."""
    # Maps (identityMap) as JSON objects, not Arrow's list of key/value pairs.
    return [_jsonable(row) for row in table.to_pylist(maps_as_pydicts="strict")]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def rows_in_window(
    data: ds.Dataset, dataset: Dataset, since: datetime | None, until: datetime | None, limit: int
) -> pa.Table:
    """Up to ``limit`` rows whose timestamp field is in [since, until)."""
    if since is None and until is None:
        return data.head(limit)
    if not dataset.timestamp_field:
        raise UnprocessableEntity(
            "the dataset has no timestamp_field; set one to filter by time",
            code="no_timestamp_field",
        )
    path = tuple(dataset.timestamp_field.split("."))
    try:
        field_type = data.schema.field(path[0]).type
        for name in path[1:]:
            field_type = field_type.field(name).type
    except KeyError as error:
        raise UnprocessableEntity(
            f"timestamp_field {dataset.timestamp_field!r} is not a field", code="no_timestamp_field"
        ) from error
    column = ds.field(*path)
    condition: ds.Expression | None = None
    for bound, compare in ((since, "ge"), (until, "lt")):
        if bound is None:
            continue
        if bound.tzinfo is None:
            raise BadRequest(
                "since/until need a time zone (e.g. 2024-01-01T00:00:00Z)", code="naive_time"
            )
        value = pa.scalar(bound.date() if pa.types.is_date(field_type) else bound, field_type)
        term = column >= value if compare == "ge" else column < value
        condition = term if condition is None else condition & term
    return (
        data.to_table(filter=condition).slice(0, limit)
        if condition is not None
        else data.head(limit)
    )
