"""Request and response models of batches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dsw_catalog.models import Batch, BatchFile

InputFormatName = Literal["csv", "jsonl", "json", "parquet"]


class BatchCreate(BaseModel):
    """A new batch of a dataset."""

    model_config = ConfigDict(extra="forbid")

    format: InputFormatName = Field(description="Format of every file of the batch")
    compression: Literal["none", "gzip"] = "none"
    unknown_columns: Literal["ignore", "reject"] = Field(
        default="ignore", description="Columns the schema lacks: dropped, or the file rejected"
    )
    column_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="CSV header -> dotted field path (tenant fields may "
        "also be named without their _<tenant> prefix)",
    )
    formats: dict[str, str] = Field(
        default_factory=dict, description="Dotted field path -> strptime format for CSV dates"
    )
    tags: list[str] = Field(default_factory=list, max_length=50)


class BatchFileOut(BaseModel):
    """An uploaded file."""

    name: str
    size: int
    sha256: str
    uploaded: datetime

    @classmethod
    def of(cls, file: BatchFile) -> BatchFileOut:
        return cls(name=file.name, size=file.size, sha256=file.sha256, uploaded=file.uploaded)


class DroppedColumnOut(BaseModel):
    """A column of the files that no field of the schema takes: its values were not kept."""

    name: str
    rows: int = Field(description="Rows read from files that had this column")


class BatchOut(BaseModel):
    """A batch: its files, its status and what ingestion made of it."""

    id: uuid.UUID
    dataset_id: uuid.UUID
    status: str = Field(description="loading, processing, success, partial, failed or aborted")
    format: str
    compression: str
    unknown_columns: str
    column_mapping: dict[str, str]
    formats: dict[str, str]
    files: list[BatchFileOut]
    rows_read: int
    rows_written: int
    rows_rejected: int
    bytes_written: int
    error: str | None
    has_error_report: bool
    dropped_columns: list[DroppedColumnOut] = Field(
        default_factory=list,
        description="Columns the schema lacks, dropped (unknown_columns: ignore), with their rows",
    )
    attempts: int
    tags: list[str]
    created: datetime
    updated: datetime
    completed_at: datetime | None
    finished_at: datetime | None
    created_by: str

    @classmethod
    def of(cls, batch: Batch, files: list[BatchFile]) -> BatchOut:
        options: dict[str, Any] = batch.options or {}
        return cls(
            id=batch.id,
            dataset_id=batch.dataset_id,
            status=batch.status,
            format=batch.input_format,
            compression=batch.compression,
            unknown_columns=batch.unknown_columns,
            column_mapping=options.get("column_mapping", {}),
            formats=options.get("formats", {}),
            files=[BatchFileOut.of(file) for file in files],
            rows_read=batch.rows_read,
            rows_written=batch.rows_written,
            rows_rejected=batch.rows_rejected,
            bytes_written=batch.bytes_written,
            error=batch.error,
            has_error_report=batch.has_error_report,
            dropped_columns=[DroppedColumnOut(**item) for item in batch.dropped_columns or []],
            attempts=batch.attempts,
            tags=list(batch.tags),
            created=batch.created,
            updated=batch.updated,
            completed_at=batch.completed_at,
            finished_at=batch.finished_at,
            created_by=batch.created_by,
        )
