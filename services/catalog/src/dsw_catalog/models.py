"""Database tables of the catalog service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.db import ResourceMixin, TenantScoped, UTCDateTime, utcnow
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.web import IdempotencyMixin
from dsw_kit.work import LeasedWorkMixin


class Base(DeclarativeBase):
    """Declarative base of the catalog's tables."""


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class IdempotencyKey(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class Dataset(ResourceMixin, Base):
    """A named collection of batches that share one XDM schema."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The catalog schema (XdmSchema.id) its rows follow.
    schema_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Ingestion settings: accept a batch with some rejected rows, up to this share of rows.
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    error_threshold_percent: Mapped[float] = mapped_column(Float, default=0.0)
    timestamp_field: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # The version of its schema it is on (None: the schema's current version). Ingestion
    # validates and reads go through that version; the dataset moves to newer ones explicitly.
    schema_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class XdmSchema(ResourceMixin, Base):
    """A custom XDM schema: class + field groups + tenant fields (libs/xdm's JSON document)."""

    __tablename__ = "schemas"

    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    xdm_id: Mapped[str] = mapped_column(String(512), index=True)
    class_id: Mapped[str] = mapped_column(String(512))
    behavior: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The tenant components (field groups, data types) the document uses, as they were when this
    # version was made, in registration order: a schema version never changes under a dataset.
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Schema evolution: the current version number, and every earlier version as
    # {"version", "document", "components", "created"} (compatible changes only).
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class XdmComponent(ResourceMixin, Base):
    """A tenant's own XDM field group or data type (its fields live under `_<tenantId>`)."""

    __tablename__ = "xdm_components"

    xdm_id: Mapped[str] = mapped_column(String(512), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # fieldgroup | datatype
    tenant_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | deprecated
    # Evolution: current version, and earlier definitions as {"version", "definition"}.
    component_version: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Batch(LeasedWorkMixin, Base):
    """Files uploaded together and ingested into a dataset all or nothing (or partially)."""

    __tablename__ = "batches"

    dataset_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("datasets.id"), index=True)
    # loading -> processing -> success | partial | failed; aborted from loading or processing.
    status: Mapped[str] = mapped_column(String(16), default="loading", index=True)
    input_format: Mapped[str] = mapped_column(String(16))
    compression: Mapped[str] = mapped_column(String(16), default="none")
    unknown_columns: Mapped[str] = mapped_column(String(16), default="ignore")
    # CSV options: {"column_mapping": {header: field path}, "formats": {field path: strptime}}.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Output files (lake paths relative to the dataset folder) with rows and bytes.
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    has_error_report: Mapped[bool] = mapped_column(Boolean, default=False)
    # Columns not in the schema that `unknown_columns: ignore` dropped: [{"name", "rows"}].
    dropped_columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BatchFile(TenantScoped, Base):
    """A file uploaded into a batch (re-uploading the same name replaces it)."""

    __tablename__ = "batch_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("batches.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
