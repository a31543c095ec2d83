"""Use cases of datasets: they add and flush, the request boundary commits."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import select

from dsw_catalog.datasets import repository
from dsw_catalog.datasets.schemas import DatasetCreate, DatasetUpdate
from dsw_catalog.models import Dataset, XdmSchema
from dsw_contracts import DatasetChanged
from dsw_kit.db import utcnow
from dsw_kit.errors import Conflict, NotFound, UnprocessableEntity
from dsw_kit.lake import Lake
from dsw_kit.web import UnitOfWork


def _announce(
    work: UnitOfWork, dataset: Dataset, change: Literal["created", "updated", "deleted"]
) -> None:
    work.publish(
        f"dsw.catalog.dataset.{change}",
        str(dataset.id),
        DatasetChanged(
            dataset_id=str(dataset.id),
            name=dataset.name,
            schema_id=dataset.schema_id,
            change=change,
        ),
    )


def create_dataset(work: UnitOfWork, request: DatasetCreate) -> Dataset:
    """Register a new dataset; its name must be free in the tenant."""
    if repository.find_live_by_name(work.session, request.name) is not None:
        raise Conflict(f"a dataset named {request.name!r} already exists", code="name_taken")
    schema = check_schema(work, request.schema_id) if request.schema_id is not None else None
    dataset = Dataset(
        **request.model_dump(),
        schema_version=schema.schema_version if schema is not None else None,
        created_by=work.context.subject,
    )
    work.session.add(dataset)
    work.session.flush()
    _announce(work, dataset, "created")
    return dataset


def check_schema(work: UnitOfWork, schema_id: str) -> XdmSchema:
    """The tenant's schema ``schema_id``; 422 when there is none."""
    try:
        key = uuid.UUID(schema_id)
    except ValueError:
        key = None
    found = (
        work.session.scalar(select(XdmSchema).where(XdmSchema.id == key))
        if key is not None
        else None
    )
    if found is None:
        raise UnprocessableEntity(
            f"schema {schema_id} not found; create it first", code="schema_not_found"
        )
    return found


def _move_schema_version(work: UnitOfWork, dataset: Dataset, version: int) -> None:
    """Put the dataset on a newer version of its schema (versions differ only compatibly)."""
    if dataset.schema_id is None:
        raise UnprocessableEntity("the dataset has no schema", code="dataset_without_schema")
    schema = check_schema(work, dataset.schema_id)
    current = dataset.schema_version or schema.schema_version
    if version > schema.schema_version:
        raise UnprocessableEntity(
            f"schema {schema.id} has no version {version} (latest {schema.schema_version})",
            code="schema_version_not_found",
        )
    if version < current:
        raise Conflict(
            f"the dataset is on version {current}; it cannot move back to {version} (batches "
            "written since may not fit it)",
            code="schema_version_backwards",
        )
    dataset.schema_version = version


def get_dataset(work: UnitOfWork, dataset_id: uuid.UUID) -> Dataset:
    """The dataset, or 404 (also for another tenant's or a deleted one)."""
    dataset = repository.get_live(work.session, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found", code="dataset_not_found")
    return dataset


def update_dataset(work: UnitOfWork, dataset: Dataset, changes: DatasetUpdate) -> Dataset:
    """Apply metadata changes (the version check guards concurrent updates)."""
    values = changes.model_dump(exclude_unset=True)
    new_name: str | None = values.get("name")
    if (
        new_name
        and new_name != dataset.name
        and repository.find_live_by_name(work.session, new_name) is not None
    ):
        raise Conflict(f"a dataset named {new_name!r} already exists", code="name_taken")
    version = values.pop("schema_version", None)
    if version is not None:
        _move_schema_version(work, dataset, version)
    for field, value in values.items():
        if value is not None or field == "timestamp_field":
            setattr(dataset, field, value)
    work.session.flush()
    _announce(work, dataset, "updated")
    return dataset


def purge_dataset(work: UnitOfWork, lake: Lake, dataset_id: uuid.UUID) -> None:
    """Remove a deleted dataset's files from the lake; its metadata stays for the record."""
    dataset = work.session.scalar(select(Dataset).where(Dataset.id == dataset_id))
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found", code="dataset_not_found")
    if dataset.deleted_at is None:
        raise Conflict("delete the dataset before purging its data", code="dataset_not_deleted")
    lake.delete_dir(lake.path(work.tenant, str(dataset.id)))
    dataset.extra = {**dataset.extra, "purged_at": utcnow().isoformat()}
    work.session.flush()


def delete_dataset(work: UnitOfWork, dataset: Dataset) -> None:
    """Soft-delete: hidden from every read; its data stays until an explicit purge."""
    dataset.deleted_at = utcnow()
    work.session.flush()
    _announce(work, dataset, "deleted")
