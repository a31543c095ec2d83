"""A broker that restarts empty (Tansu keeps everything in memory) on the same address.

The relay and consumers must carry on without a restart of their own: events written during the
outage are delivered, consumers rejoin their group, and producers made for the old broker (whose
producer ids the new one does not know) are replaced.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsw_kit.broker import TansuBroker
from dsw_kit.db import Database, Tenant
from dsw_kit.events import (
    CloudEvent,
    EventConsumer,
    EventPublisher,
    OutboxRelay,
    create_producer,
    ensure_topics,
)
from dsw_kit.testing.tiers import real_process_fixture

from .conftest import Base, Note, Outbox, Processed

TENANT = Tenant("org-a", "prod")
TOPIC = "dsw.catalog.events"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'events.db'}")
    Base.metadata.create_all(database.engine)
    return database


@real_process_fixture()
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    yield broker
    broker.stop()


def restart_empty(broker: TansuBroker) -> None:
    """Kill the broker (everything it held is lost) and start a new one on the same port."""
    assert broker.process is not None
    broker.process.kill()
    broker.process.wait()
    broker.start()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def note_handler(session: Session, event: CloudEvent) -> None:
    if event.data["text"].startswith("poison"):
        raise ValueError("cannot apply")
    session.add(Note(text=event.data["text"]))


def consumer_of(database: Database, bootstrap: str) -> EventConsumer:
    return EventConsumer(
        name=f"test-{uuid.uuid4().hex[:6]}",
        database=database,
        processed_model=Processed,
        topics=[TOPIC],
        handler=note_handler,
        bootstrap=bootstrap,
        max_attempts=1,
        partitions_per_topic=1,
    )


def notes(database: Database) -> int:
    with database.session(TENANT) as session:
        return int(session.scalar(select(func.count()).select_from(Note)) or 0)


def note_texts(database: Database) -> list[str]:
    with database.session(TENANT) as session:
        return [note.text for note in session.scalars(select(Note))]


def publish(database: Database, *texts: str) -> None:
    publisher = EventPublisher("catalog", Outbox)
    for text in texts:
        with database.session(TENANT) as session:
            publisher.publish(session, TENANT, "dsw.catalog.dataset.created", text, {"text": text})


def dead_letters(bootstrap: str) -> list[str]:
    reader = KafkaConsumer(
        TOPIC + ".dlq",
        bootstrap_servers=[bootstrap],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    texts = [json.loads(message.value)["data"]["text"] for message in reader]
    reader.close()
    return texts


def test_events_written_during_an_outage_reach_consumers_of_the_restarted_broker(
    database: Database, broker: TansuBroker
) -> None:
    ensure_topics(broker.bootstrap, {TOPIC: 1})
    relay = OutboxRelay(database, Outbox, bootstrap=broker.bootstrap, client_id="t")
    consumer = consumer_of(database, broker.bootstrap)
    relay.start()
    consumer.start()
    try:
        publish(database, "before-1", "before-2")
        wait_for(lambda: notes(database) == 2, "the events sent before the outage")
        broker.process.kill()  # type: ignore[union-attr]
        broker.process.wait()  # type: ignore[union-attr]
        publish(database, "during-1", "during-2", "during-3")
        broker.start()
        wait_for(lambda: notes(database) == 5, "the events written during the outage")
    finally:
        consumer.stop()
        relay.stop()
    assert consumer.stats.applied == 5
    assert consumer.stats.duplicates == 0


def test_dead_letters_still_reach_a_restarted_broker(
    database: Database, broker: TansuBroker
) -> None:
    bootstrap = broker.bootstrap
    ensure_topics(bootstrap, {TOPIC: 1, TOPIC + ".dlq": 1})
    consumer = consumer_of(database, bootstrap)
    consumer.start()
    try:
        send_raw(bootstrap, "poison-1")
        wait_for(lambda: dead_letters(bootstrap) == ["poison-1"], "the first dead letter")
        restart_empty(broker)
        ensure_topics(bootstrap, {TOPIC: 1, TOPIC + ".dlq": 1})
        # "early" takes the offset the consumer had reached on the old broker: depending on
        # when it notices the restart it may resume past it (see the report of issue 11).
        send_raw(bootstrap, "early", "poison-2", "fine")
        wait_for(lambda: "poison-2" in dead_letters(bootstrap), "the dead letter after restart")
        wait_for(lambda: "fine" in note_texts(database), "the event after the poison one")
        assert dead_letters(bootstrap) == ["poison-2"]
    finally:
        consumer.stop()


def send_raw(bootstrap: str, *texts: str) -> None:
    producer = create_producer(bootstrap, "test-producer")
    for text in texts:
        event = CloudEvent(
            source="/t",
            type="dsw.catalog.dataset.created",
            orgid=TENANT.org_id,
            sandbox=TENANT.sandbox,
            data={"text": text},
        )
        producer.send(TOPIC, key=b"k", value=json.dumps(event.model_dump(mode="json")).encode())
    producer.flush()
    producer.close()
