"""In-process event delivery: the broker's role played inside one Python process.

A platform whose ``kafka_bootstrap`` is ``memory://<name>`` sends its events through a
:class:`MemoryBus` instead of a Kafka-protocol broker. Everything else stays the same code: the
services write their outbox, the :class:`~dsw_kit.events.OutboxRelay` delivers it, and each
:class:`~dsw_kit.events.EventConsumer` applies events once through its processed-events table. What
the bus keeps of Kafka's contract is what the platform relies on: an append-only log per topic, a
consumer group that starts at the earliest record and hands each record to one of its members, and
records handed out in the order they were produced.

It exists so that every service's API tests (the fast test tier) and a single-process embedding run
without a broker process. It keeps nothing across a restart, so it is never a deployment's choice;
the broker path is what the integration tier and every deployment exercise.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MEMORY_SCHEME", "MemoryBus", "MemoryProducer", "MemoryRecord", "is_memory"]

MEMORY_SCHEME = "memory://"


def is_memory(bootstrap: str) -> bool:
    """Whether ``bootstrap`` names an in-process bus rather than broker addresses."""
    return bootstrap.startswith(MEMORY_SCHEME)


@dataclass(frozen=True)
class MemoryRecord:
    """One record of a topic: the fields a consumer reads of Kafka's ``ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    sequence: int = 0


class MemoryBus:
    """The topics and consumer-group positions of one in-process platform."""

    _buses: dict[str, MemoryBus] = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._logs: dict[str, list[MemoryRecord]] = defaultdict(list)
        self._positions: dict[tuple[str, str], int] = {}
        self._sequence = itertools.count()

    @classmethod
    def for_bootstrap(cls, bootstrap: str) -> MemoryBus:
        """The bus named by ``bootstrap`` (created on first use; shared by the whole process)."""
        with cls._registry_lock:
            bus = cls._buses.get(bootstrap)
            if bus is None:
                bus = cls._buses[bootstrap] = MemoryBus()
            return bus

    @classmethod
    def discard(cls, bootstrap: str) -> None:
        """Forget a bus and its records (a test's platform is gone)."""
        with cls._registry_lock:
            cls._buses.pop(bootstrap, None)

    def produce(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> MemoryRecord:
        """Append a record to ``topic`` and wake the consumers waiting for one."""
        with self._changed:
            log = self._logs[topic]
            record = MemoryRecord(topic, 0, len(log), key, value, headers, next(self._sequence))
            log.append(record)
            self._changed.notify_all()
        return record

    def take(self, group: str, topics: Iterable[str], timeout: float) -> MemoryRecord | None:
        """The oldest record of ``topics`` that ``group`` has not been handed yet, waiting up to
        ``timeout`` seconds for one. Each record goes to one member of a group, as in Kafka."""
        wanted = list(topics)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                record = self._next_unread(group, wanted)
                if record is not None:
                    self._positions[(group, record.topic)] = record.offset + 1
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def records(self, topic: str) -> list[MemoryRecord]:
        """Everything produced to ``topic`` so far (for tests and dead-letter inspection)."""
        with self._changed:
            return list(self._logs.get(topic, ()))

    def _next_unread(self, group: str, topics: list[str]) -> MemoryRecord | None:
        candidates = []
        for topic in topics:
            log = self._logs.get(topic, ())
            position = self._positions.get((group, topic), 0)
            if position < len(log):
                candidates.append(log[position])
        return min(candidates, key=lambda record: record.sequence, default=None)


class _Delivered:
    """The already-completed future of a send (Kafka's ``FutureRecordMetadata`` subset)."""

    def __init__(self, record: MemoryRecord) -> None:
        self.record = record

    def get(self, timeout: float | None = None) -> MemoryRecord:
        return self.record


class MemoryProducer:
    """The subset of ``KafkaProducer`` the platform uses, appending to a :class:`MemoryBus`."""

    def __init__(self, bootstrap: str) -> None:
        self.bus = MemoryBus.for_bootstrap(bootstrap)

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> _Delivered:
        return _Delivered(self.bus.produce(topic, key, value, list(headers or [])))

    def flush(self, timeout: float | None = None) -> None:
        """Records are appended on send: nothing is buffered."""

    def close(self, timeout: float | None = None) -> None:
        """Nothing to release: the bus outlives its producers."""
