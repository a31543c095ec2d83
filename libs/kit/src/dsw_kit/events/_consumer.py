"""Consumers: a Kafka consumer group whose handler applies each event once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsw_contracts import DEAD_LETTER_SUFFIX
from dsw_kit.db import Database
from dsw_kit.events._broker import BrokerUnavailable, create_producer, ensure_topics
from dsw_kit.events._envelope import CloudEvent
from dsw_kit.events._memory import MemoryBus, MemoryRecord, is_memory
from dsw_kit.events._outbox import ProcessedEventMixin
from dsw_kit.logging import request_id_var

logger = logging.getLogger("dsw.events.consumer")

#: Applies one event inside the session's transaction (tenant-scoped to the event's tenant).
EventHandler = Callable[[Session, CloudEvent], None]


@dataclass
class ConsumerStats:
    """What a consumer did since it started (for tests, logs and metrics)."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    ignored: int = 0


class EventConsumer:
    """A member of a consumer group that applies events with ``handler``.

    For each message: parse the envelope, then in one database transaction record the event id as
    processed by this consumer (a unique key) and run the handler; commit the offset only after
    that transaction. A redelivered event hits the unique key and is skipped. A handler that keeps
    failing (``max_attempts``, with backoff) sends the message to ``<topic>.dlq`` and moves on.
    Handlers must be short: Tansu and Kafka evict members that do not poll within
    ``max_poll_interval_ms``; long work belongs to a worker that the handler only hands off to.
    """

    def __init__(
        self,
        *,
        name: str,
        database: Database,
        processed_model: type[ProcessedEventMixin],
        topics: Iterable[str],
        handler: EventHandler,
        bootstrap: str,
        group_id: str | None = None,
        event_types: Iterable[str] | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_poll_interval_ms: int = 10_000,
        partitions_per_topic: int = 4,
    ) -> None:
        self.name = name
        self.database = database
        self.processed_model = processed_model
        self.topics = list(topics)
        self.handler = handler
        self.bootstrap = bootstrap
        self.group_id = group_id or name
        self.event_types = set(event_types) if event_types is not None else None
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_poll_interval_ms = max_poll_interval_ms
        self.partitions_per_topic = partitions_per_topic
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self._dead_letter_producer: KafkaProducer | None = None
        self.assigned: set[TopicPartition] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until :meth:`stop` (reconnecting while the broker is away)."""
        while not self._stop.is_set():
            try:
                self._consume()
            except (KafkaError, BrokerUnavailable, OSError) as error:
                logger.warning("consumer %s lost the broker (%s); retrying", self.name, error)
                self._close_consumer()
                self._stop.wait(1.0)

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=f"consumer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the group and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close_consumer()
        logger.info(
            "consumer %s stopped: received=%d applied=%d duplicates=%d dead_lettered=%d",
            self.name,
            self.stats.received,
            self.stats.applied,
            self.stats.duplicates,
            self.stats.dead_lettered,
        )
        self._close_dead_letter_producer()

    # -- the loop --------------------------------------------------------------------------

    def _consume(self) -> None:
        if is_memory(self.bootstrap):
            self._consume_memory()
            return
        ensure_topics(
            self.bootstrap,
            {topic: self.partitions_per_topic for topic in self.topics}
            | {topic + DEAD_LETTER_SUFFIX: 1 for topic in self.topics},
        )
        self._consumer = KafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap.split(","),
            group_id=self.group_id,
            client_id=f"dsw-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.max_poll_interval_ms,
            session_timeout_ms=self.max_poll_interval_ms,
            heartbeat_interval_ms=1_000,
            max_poll_records=50,
        )
        consumer = self._consumer
        while not self._stop.is_set():
            batches = consumer.poll(timeout_ms=300)
            assigned = set(consumer.assignment())
            if assigned != self.assigned:
                self.assigned = assigned
                logger.info(
                    "consumer %s assigned %s",
                    self.name,
                    sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
                )
            for partition, records in batches.items():
                for record in records:
                    if self._stop.is_set():
                        return
                    self.handle_record(record)
                    self._commit(consumer, partition, record.offset + 1)

    def _consume_memory(self) -> None:
        """The same loop on the in-process bus: no group to join, no offsets to commit."""
        bus = MemoryBus.for_bootstrap(self.bootstrap)
        self.assigned = {TopicPartition(topic, 0) for topic in self.topics}
        while not self._stop.is_set():
            record = bus.take(self.group_id, self.topics, timeout=0.3)
            if record is not None:
                self.handle_record(record)

    def _commit(self, consumer: KafkaConsumer, partition: TopicPartition, offset: int) -> None:
        try:
            consumer.commit({partition: OffsetAndMetadata(offset, "", -1)})
        except CommitFailedError:
            # The group rebalanced; the new owner re-reads from the last commit, and the
            # processed-events table makes that harmless.
            logger.info("offset commit lost to a rebalance on %s", partition)

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:  # closing a broken connection must not stop the retry loop
                logger.debug("closing consumer failed", exc_info=True)
            self._consumer = None

    # -- one message -----------------------------------------------------------------------

    def handle_record(self, record: ConsumerRecord | MemoryRecord) -> None:
        """Apply one Kafka record (dead-lettering it when it cannot be applied)."""
        self.stats.received += 1
        try:
            event = CloudEvent.model_validate(json.loads(record.value))
        except (ValueError, ValidationError) as error:
            self._dead_letter(record, f"not a CloudEvent: {error}")
            return
        if self.event_types is not None and event.type not in self.event_types:
            self.stats.ignored += 1
            return
        token = request_id_var.set(event.correlationid)
        try:
            self._apply_with_retries(event, record)
        finally:
            request_id_var.reset(token)

    def _apply_with_retries(self, event: CloudEvent, record: ConsumerRecord | MemoryRecord) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.apply(event)
                return
            except Exception as error:
                if attempt == self.max_attempts:
                    logger.exception("event %s failed %d times", event.id, attempt)
                    self._dead_letter(record, f"{type(error).__name__}: {error}")
                    return
                logger.warning(
                    "event %s failed (attempt %d): %s",
                    event.id,
                    attempt,
                    error,
                    extra={"event_type": event.type, "event_id": event.id},
                )
                time.sleep(min(self.backoff_seconds * 2 ** (attempt - 1), 2.0))

    def apply(self, event: CloudEvent) -> bool:
        """Apply ``event`` once; False when this consumer had already applied it."""
        model = self.processed_model
        try:
            with self.database.session(event.tenant) as session:
                already = session.scalar(
                    select(model.id).where(model.consumer == self.name, model.event_id == event.id)
                )
                if already is not None:
                    self.stats.duplicates += 1
                    logger.info("event %s already applied by %s; skipped", event.id, self.name)
                    return False
                session.add(
                    model(**{"consumer": self.name, "event_id": event.id, "event_type": event.type})
                )
                session.flush()
                self.handler(session, event)
        except IntegrityError:
            # Another member applied it concurrently (its row won the unique key).
            self.stats.duplicates += 1
            return False
        self.stats.applied += 1
        return True

    def _dead_letter(self, record: ConsumerRecord | MemoryRecord, reason: str) -> None:
        self.stats.dead_lettered += 1
        logger.error(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        if self._dead_letter_producer is None:
            self._dead_letter_producer = create_producer(self.bootstrap, f"dsw-{self.name}-dlq")
        headers = [
            *(record.headers or []),
            ("x-dead-letter-reason", reason[:500].encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-consumer", self.name.encode()),
        ]
        try:
            future = self._dead_letter_producer.send(
                record.topic + DEAD_LETTER_SUFFIX,
                key=record.key,
                value=record.value,
                headers=headers,
            )
            future.get(timeout=10)
        except KafkaError as error:
            # A producer made for a broker that has since restarted empty keeps failing (the
            # new broker does not know its producer id): replace it, or this record would be
            # re-read and fail to dead-letter forever, blocking its partition.
            self._close_dead_letter_producer()
            raise BrokerUnavailable(f"cannot dead-letter: {error}") from error

    def _close_dead_letter_producer(self) -> None:
        producer, self._dead_letter_producer = self._dead_letter_producer, None
        if producer is not None:
            try:
                producer.close(timeout=2)
            except Exception:  # closing a broken producer must not hide why it broke
                logger.debug("closing the dead-letter producer failed", exc_info=True)
