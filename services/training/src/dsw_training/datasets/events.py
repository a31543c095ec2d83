"""Catalog events training keeps track of: datasets created/deleted and batches that succeeded."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_contracts import BatchCompleted, DatasetChanged
from dsw_kit.app import ServiceRuntime
from dsw_kit.db import utcnow
from dsw_kit.events import CloudEvent, EventConsumer
from dsw_training.models import DatasetActivity, ProcessedEvent
from dsw_training.schedules.service import mark_new_data

CATALOG_EVENTS = "dsw.catalog.events"
HANDLED = {
    "dsw.catalog.dataset.created",
    "dsw.catalog.dataset.updated",
    "dsw.catalog.dataset.deleted",
    "dsw.catalog.batch.succeeded",
    "dsw.catalog.batch.partial",
}


def apply_catalog_event(session: Session, event: CloudEvent) -> None:
    """Fold one catalog event into the dataset's activity row."""
    dataset_id = str(event.data.get("dataset_id") or event.subject)
    activity = session.scalar(
        select(DatasetActivity).where(DatasetActivity.dataset_id == dataset_id)
    )
    if activity is None:
        activity = DatasetActivity(dataset_id=dataset_id)
        session.add(activity)
    if event.type.startswith("dsw.catalog.dataset."):
        change = DatasetChanged.model_validate(event.data)
        activity.name = change.name
        activity.deleted = change.change == "deleted"
    else:
        batch = BatchCompleted.model_validate(event.data)
        activity.batches_succeeded = (activity.batches_succeeded or 0) + 1
        activity.last_batch_id = batch.batch_id
        if event.type == "dsw.catalog.batch.succeeded":
            mark_new_data(session, dataset_id, batch.batch_id, event.time)
    activity.last_event_id = event.id
    activity.updated = utcnow()


def catalog_events_consumer(runtime: ServiceRuntime) -> EventConsumer:
    """The consumer of the catalog's events in the ``training.catalog-events`` group."""
    return EventConsumer(
        name="training.catalog-events",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=[CATALOG_EVENTS],
        handler=apply_catalog_event,
        event_types=HANDLED,
        bootstrap=runtime.settings.platform.kafka_bootstrap,
        group_id=runtime.settings.platform.kafka_group_prefix + "training.catalog-events",
        partitions_per_topic=runtime.settings.platform.kafka_partitions,
    )
