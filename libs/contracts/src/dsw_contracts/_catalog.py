"""Events the catalog publishes."""

from __future__ import annotations

from typing import ClassVar, Literal

from dsw_contracts._topics import EventPayload


class DatasetChanged(EventPayload):
    """``dsw.catalog.dataset.created|updated|deleted``: a dataset's metadata changed."""

    event_type: ClassVar[str] = "dsw.catalog.dataset.changed"
    dataset_id: str
    name: str
    schema_id: str | None = None
    change: Literal["created", "updated", "deleted"]


class BatchCompleted(EventPayload):
    """``dsw.catalog.batch.succeeded|partial|failed``: a batch finished processing."""

    event_type: ClassVar[str] = "dsw.catalog.batch.completed"
    dataset_id: str
    batch_id: str
    status: Literal["success", "partial", "failed"]
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
