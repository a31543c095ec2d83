"""The consumer that stores the invocation log (for live metrics, drift and analysis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_contracts.serving import INVOCATIONS_TOPIC, ServingInvocationBatch
from dsw_kit.app import ServiceRuntime
from dsw_kit.events import CloudEvent, EventConsumer
from dsw_serving.models import Invocation, ProcessedEvent


def store_invocations(session: Session, event: CloudEvent) -> None:
    """Insert one batch of invocations (a request already stored is skipped)."""
    items: list[dict[str, Any]] = list(event.data.get("items") or [])
    keys = {(str(item["request_id"]), int(item["revision"])) for item in items}
    known = {
        (str(request_id), int(revision))
        for request_id, revision in session.execute(
            select(Invocation.request_id, Invocation.revision).where(
                Invocation.request_id.in_({request_id for request_id, _ in keys})
            )
        )
    }
    for item in items:
        key = (str(item["request_id"]), int(item["revision"]))
        if key in known:
            continue
        known.add(key)
        session.add(
            Invocation(
                service=str(item["service"]),
                request_id=key[0],
                revision=key[1],
                shadow=bool(item.get("shadow", False)),
                inputs=item.get("inputs"),
                outputs=list(item.get("outputs") or []),
                latency_ms=float(item.get("latency_ms", 0.0)),
                at=datetime.fromtimestamp(float(item["at"]), UTC),
            )
        )
    session.flush()


def invocation_store(runtime: ServiceRuntime) -> EventConsumer:
    """A member of the group that stores invocations."""
    platform = runtime.settings.platform
    return EventConsumer(
        name="serving-invocations",
        group_id=f"{platform.kafka_group_prefix}serving-invocations",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=[INVOCATIONS_TOPIC],
        handler=store_invocations,
        bootstrap=platform.kafka_bootstrap,
        event_types={ServingInvocationBatch.event_type},
        partitions_per_topic=platform.kafka_partitions,
    )
