"""The transactional outbox: events written with the state change, delivered by a relay."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from dsw_contracts import EventPayload, topic_for
from dsw_kit.db import Database, Tenant, UTCDateTime, utcnow
from dsw_kit.events._broker import BrokerUnavailable, create_producer
from dsw_kit.events._envelope import CloudEvent, new_event
from dsw_kit.logging import current_request_id

logger = logging.getLogger("dsw.events.outbox")

# BigInteger keys autoincrement on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")
_PENDING_KEY = "dsw.outbox.pending"
_wake_callbacks: list[Callable[[], None]] = []


class OutboxMixin:
    """Columns of a service's ``outbox`` table (one row per event to deliver)."""

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ProcessedEventMixin:
    """Columns of a service's ``processed_events`` table: what each consumer already applied."""

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("consumer", "event_id", name="uq_processed_consumer_event"),)


@sa_event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.info.pop(_PENDING_KEY, False):
        for wake in list(_wake_callbacks):
            wake()


@sa_event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


class EventPublisher:
    """Writes a service's events into its outbox, inside the caller's transaction."""

    def __init__(self, service: str, outbox_model: type[OutboxMixin]) -> None:
        self.service = service
        self.outbox_model = outbox_model

    def publish(
        self,
        session: Session,
        tenant: Tenant,
        event_type: str,
        subject: str,
        payload: EventPayload | dict[str, Any],
    ) -> CloudEvent:
        """Add the event to the outbox; it is delivered only if the transaction commits."""
        data = payload.model_dump(mode="json") if isinstance(payload, EventPayload) else payload
        event = new_event(
            service=self.service,
            event_type=event_type,
            tenant=tenant,
            subject=subject,
            data=data,
            correlation_id=current_request_id(),
        )
        session.add(
            self.outbox_model(
                **{
                    "event_id": event.id,
                    "topic": topic_for(event_type),
                    "key": subject,
                    "envelope": event.model_dump(mode="json", exclude_none=True),
                }
            )
        )
        session.info[_PENDING_KEY] = True
        return event


ProducerFactory = Callable[[], KafkaProducer]


class OutboxRelay:
    """Delivers outbox rows to the broker in order and marks them sent.

    Safe to run in several processes: on PostgreSQL rows are claimed with ``FOR UPDATE SKIP
    LOCKED``; on SQLite the write transaction serialises relays. A crash between sending and
    marking resends the rows, which consumers absorb (they are idempotent).
    """

    def __init__(
        self,
        database: Database,
        outbox_model: type[OutboxMixin],
        *,
        bootstrap: str,
        client_id: str,
        poll_seconds: float = 0.5,
        batch_size: int = 200,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self.database = database
        self.outbox_model = outbox_model
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._producer_factory = producer_factory or (lambda: create_producer(bootstrap, client_id))
        self._producer: KafkaProducer | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def relay_once(self) -> int:
        """Deliver one batch of unsent events; the number delivered. Raises if the broker fails."""
        model = self.outbox_model
        query = select(model).where(model.sent_at.is_(None)).order_by(model.id)
        query = query.limit(self.batch_size)
        if self.database.is_sqlite:
            # SQLite has one writer: never hold its write lock while waiting on the broker.
            with self.database.system_session() as session:
                rows = list(session.scalars(query))
            if rows:
                self._send([(row.topic, row.key, row.envelope) for row in rows])
                with self.database.system_session() as session:
                    ids = [row.id for row in rows]
                    for row in session.scalars(select(model).where(model.id.in_(ids))):
                        row.sent_at = utcnow()
        else:
            with self.database.system_session() as session:
                rows = list(session.scalars(query.with_for_update(skip_locked=True)))
                if rows:
                    self._send([(row.topic, row.key, row.envelope) for row in rows])
                    sent = utcnow()
                    for row in rows:
                        row.sent_at = sent
        self.delivered += len(rows)
        return len(rows)

    def _send(self, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
        producer = self._get_producer()
        futures = [
            producer.send(
                topic,
                key=key.encode(),
                value=json.dumps(envelope, separators=(",", ":")).encode(),
                headers=_headers(envelope),
            )
            for topic, key, envelope in messages
        ]
        try:
            producer.flush(timeout=10)
            for future in futures:
                future.get(timeout=10)
        except (KafkaError, TimeoutError) as error:
            self._drop_producer()
            raise BrokerUnavailable(str(error)) from error

    def drain(self) -> int:
        """Deliver everything pending now; the number delivered."""
        total = 0
        while delivered := self.relay_once():
            total += delivered
        return total

    def start(self) -> None:
        """Run the relay in a daemon thread until :meth:`stop`."""
        _wake_callbacks.append(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the relay thread and close the producer."""
        self._stop.set()
        self._wake.set()
        if self._wake.set in _wake_callbacks:
            _wake_callbacks.remove(self._wake.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._drop_producer()

    def _run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                delivered = self.drain()
                backoff = self.poll_seconds
            except BrokerUnavailable as error:
                logger.warning("broker unavailable, events stay in the outbox: %s", error)
                backoff = min(backoff * 2, 5.0)
                delivered = 0
            except Exception:
                logger.exception("outbox relay failed; retrying")
                backoff = min(backoff * 2, 5.0)
                delivered = 0
            if delivered == 0:
                self._wake.wait(backoff)
                self._wake.clear()

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:  # closing a broken producer must not mask the original error
                logger.debug("closing producer failed", exc_info=True)
            self._producer = None


def _headers(envelope: dict[str, Any]) -> list[tuple[str, bytes]]:
    headers = [("ce_type", str(envelope.get("type", "")).encode())]
    if envelope.get("correlationid"):
        headers.append(("x-request-id", str(envelope["correlationid"]).encode()))
    return headers
