"""Request and response models of datasets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dsw_catalog.models import Dataset

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"


class DatasetCreate(BaseModel):
    """A new dataset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=_NAME_PATTERN)
    description: str = Field(default="", max_length=4000)
    schema_id: str | None = Field(
        default=None, max_length=64, description="Id of the catalog schema its rows follow"
    )
    tags: list[str] = Field(default_factory=list, max_length=50)
    allow_partial: bool = Field(default=False, description="Accept batches with rejected rows")
    error_threshold_percent: float = Field(
        default=0.0, ge=0, le=100, description="Most rejected rows (percent) a batch may have"
    )
    timestamp_field: str | None = Field(default=None, max_length=512)


class DatasetUpdate(BaseModel):
    """Changes to a dataset's metadata (omitted fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=4000)
    tags: list[str] | None = Field(default=None, max_length=50)
    allow_partial: bool | None = None
    error_threshold_percent: float | None = Field(default=None, ge=0, le=100)
    timestamp_field: str | None = Field(default=None, max_length=512)
    schema_version: int | None = Field(
        default=None,
        ge=1,
        description="Move to a newer version of its schema (compatible: earlier batches read "
        "with the new fields null); a dataset never moves back",
    )


class DatasetOut(BaseModel):
    """A dataset as the API shows it."""

    id: uuid.UUID
    name: str
    description: str
    schema_id: str | None
    tags: list[str]
    allow_partial: bool
    error_threshold_percent: float
    timestamp_field: str | None
    created: datetime
    updated: datetime
    created_by: str
    version: int
    schema_version: int | None = Field(
        default=None, description="The version of its schema it is on (null: no schema)"
    )
    identities: list[dict[str, Any]] | None = Field(
        default=None, description="Identity fields of its schema: path, namespace, primary"
    )
    primary_identity: dict[str, Any] | None = Field(
        default=None, description="Where a row's primary identity is (a field, or identityMap)"
    )
    row_count: int | None = Field(default=None, description="Rows of its successful batches")
    size_bytes: int | None = None
    batch_count: int | None = Field(default=None, description="Successful batches")
    last_ingestion: datetime | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetOut:
        """The API view of ``dataset``."""
        return cls(
            id=dataset.id,
            name=dataset.name,
            description=dataset.description,
            schema_id=dataset.schema_id,
            tags=list(dataset.tags),
            allow_partial=dataset.allow_partial,
            error_threshold_percent=dataset.error_threshold_percent,
            timestamp_field=dataset.timestamp_field,
            created=dataset.created,
            updated=dataset.updated,
            created_by=dataset.created_by,
            version=dataset.version,
            schema_version=dataset.schema_version,
        )


class DataFileOut(BaseModel):
    """A Parquet file of a successful batch (open it with pyarrow from ``uri``)."""

    batch_id: uuid.UUID
    name: str
    uri: str
    rows: int
    bytes: int


class RowsOut(BaseModel):
    """Rows of a dataset as JSON objects (stored form)."""

    rows: list[dict[str, Any]]
    count: int
