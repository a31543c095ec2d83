from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlalchemy import select

from dsw_contracts import topic_for
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


def test_event_types_map_to_topics() -> None:
    assert topic_for("dsw.catalog.batch.succeeded") == "dsw.catalog.events"
    assert topic_for("dsw.training.run.requested") == "dsw.training.commands"
    with pytest.raises(ValueError, match="not a platform event type"):
        topic_for("catalog.batch.succeeded")


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'events.db'}")
    Base.metadata.create_all(database.engine)
    return database


def test_rolled_back_transactions_publish_nothing(database: Database, tansu: TansuBroker) -> None:
    publisher = EventPublisher("catalog", Outbox)
    with pytest.raises(RuntimeError), database.session(TENANT) as session:
        publisher.publish(session, TENANT, "dsw.catalog.dataset.created", "d1", {"a": 1})
        raise RuntimeError("the state change failed")
    with database.session(TENANT) as session:
        publisher.publish(session, TENANT, "dsw.catalog.dataset.created", "d2", {"a": 2})
    relay = OutboxRelay(database, Outbox, bootstrap=tansu.bootstrap, client_id="t")
    assert relay.drain() == 1
    assert relay.drain() == 0
    relay.stop()


def test_poison_messages_go_to_the_dead_letter_topic(
    database: Database, fresh_kafka: TansuBroker
) -> None:
    bootstrap = fresh_kafka.bootstrap
    ensure_topics(bootstrap, {"dsw.catalog.events": 1, "dsw.catalog.events.dlq": 1})
    producer = create_producer(bootstrap, "t")
    producer.send("dsw.catalog.events", key=b"k", value=b"not json")
    good = CloudEvent(
        source="/t",
        type="dsw.catalog.dataset.created",
        orgid="org-a",
        sandbox="prod",
        data={"text": "ok"},
    )
    failing = CloudEvent(
        source="/t",
        type="dsw.catalog.dataset.created",
        orgid="org-a",
        sandbox="prod",
        data={"text": "fail"},
    )
    for event in (good, failing, good):  # the second `good` is a redelivery
        producer.send(
            "dsw.catalog.events", key=b"k", value=json.dumps(event.model_dump(mode="json")).encode()
        )
    producer.flush()
    producer.close()

    def handler(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if event.data["text"] == "fail":
            raise ValueError("cannot apply")
        session.add(Note(text=event.data["text"]))

    consumer = EventConsumer(
        name=f"test-{uuid.uuid4().hex[:6]}",
        database=database,
        processed_model=Processed,
        topics=["dsw.catalog.events"],
        handler=handler,
        bootstrap=bootstrap,
        backoff_seconds=0.01,
        partitions_per_topic=1,
    )
    consumer.start()
    try:
        import time

        deadline = time.monotonic() + 60
        while consumer.stats.received < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        consumer.stop()
    assert consumer.stats.received == 4
    assert consumer.stats.applied == 1
    assert consumer.stats.duplicates == 1
    assert consumer.stats.dead_lettered == 2
    with database.session(TENANT) as session:
        assert [note.text for note in session.scalars(select(Note))] == ["ok"]
    dead = KafkaConsumer(
        "dsw.catalog.events.dlq",
        bootstrap_servers=[bootstrap],
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    reasons = [dict(message.headers)["x-dead-letter-reason"] for message in dead]
    dead.close()
    assert len(reasons) == 2
    assert any(b"cannot apply" in reason for reason in reasons)


@real_process_fixture()
def fresh_kafka(tmp_path: Path):  # type: ignore[no-untyped-def]
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    yield broker
    broker.stop()
