"""The invocation log: sampled predictions sent to Kafka off the request path.

The request thread only appends to a bounded queue (never blocks: a full queue drops the
record and counts it); a daemon thread drains the queue in batches, one Kafka message per batch.
While the broker is slow or down the queue fills and records are dropped, predictions go on.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaProducer
from prometheus_client import Counter

from dsw_contracts.serving import INVOCATIONS_TOPIC, ServingInvocationBatch
from dsw_kit.events import create_producer
from dsw_serving.settings import ServingSettings

logger = logging.getLogger("dsw.serving.invocations")

LOGGED = Counter("dsw_serving_invocations_logged_total", "Invocations sent to the broker")
DROPPED = Counter(
    "dsw_serving_invocations_dropped_total",
    "Invocations dropped (queue full or broker unavailable)",
    ["reason"],
)
_DROPPED_FULL = DROPPED.labels("queue_full")
_DROPPED_BROKER = DROPPED.labels("broker")


class InvocationLog:
    """A bounded queue of invocation records and the thread that produces them to Kafka."""

    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.sample_rate = settings.invocation_sample_rate
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(settings.invocation_queue_size)
        self.sent = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: KafkaProducer | None = None

    def sampled(self) -> bool:
        """Whether this request is logged (the configured share of requests)."""
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate

    def record(self, item: dict[str, Any]) -> None:
        """Queue one record; drop it (counted) when the queue is full. Never blocks."""
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            _DROPPED_FULL.inc()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="invocation-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._producer is not None:
            self._producer.close(timeout=2)

    def _run(self) -> None:
        # Wakes every flush interval and takes the whole queue at once: a thread that woke per
        # record would contend for the GIL with the event loop on every request.
        while not self._stop.wait(self.settings.invocation_flush_seconds):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        items: list[dict[str, Any]] = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        size = self.settings.invocation_batch_size
        for start in range(0, len(items), size):
            self._send(items[start : start + size])

    def _send(self, batch: list[dict[str, Any]]) -> None:
        # Grouped by tenant: one message belongs to one tenant (its CloudEvent names it).
        by_tenant: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in batch:
            by_tenant.setdefault((item.pop("org"), item.pop("sandbox")), []).append(item)
        try:
            producer = self._producer_or_connect()
            for (org, sandbox), items in by_tenant.items():
                producer.send(
                    INVOCATIONS_TOPIC,
                    key=items[0]["service"].encode(),
                    value=_envelope(org, sandbox, items),
                )
            producer.flush(timeout=10)
        except Exception as error:  # the broker is away: these records are lost, counted
            self.dropped += len(batch)
            _DROPPED_BROKER.inc(len(batch))
            logger.warning("invocation batch of %d dropped: %s", len(batch), error)
            self._close_producer()
            self._stop.wait(1.0)
            return
        self.sent += len(batch)
        LOGGED.inc(len(batch))

    def _producer_or_connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = create_producer(
                self.settings.platform.kafka_bootstrap, "dsw-serving-invocations"
            )
        return self._producer

    def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:
                logger.debug("closing the invocation producer failed", exc_info=True)
            self._producer = None


def _envelope(org: str, sandbox: str, items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/dsw/serving",
            "type": ServingInvocationBatch.event_type,
            "time": datetime.now(UTC).isoformat(),
            "subject": items[0]["service"],
            "datacontenttype": "application/json",
            "orgid": org,
            "sandbox": sandbox,
            "data": {"schema_version": 1, "items": items},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
