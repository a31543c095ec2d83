"""The in-process bus (``memory://``): the broker's contract the platform relies on, without a
broker process. The fast test tier runs every service's events through it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from dsw_kit.db import Database, Tenant
from dsw_kit.events import (
    CloudEvent,
    EventConsumer,
    EventPublisher,
    MemoryBus,
    OutboxRelay,
    broker_reachable,
    create_producer,
    ensure_topics,
)

from .conftest import Base, Outbox, Processed

TENANT = Tenant("org-a", "prod")
TOPIC = "dsw.catalog.events"


@pytest.fixture
def bootstrap() -> Iterator[str]:
    name = f"memory://{uuid.uuid4().hex}"
    yield name
    MemoryBus.discard(name)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'events.db'}")
    Base.metadata.create_all(database.engine)
    return database


def test_records_come_in_the_order_produced_and_each_group_reads_from_the_start(
    bootstrap: str,
) -> None:
    bus = MemoryBus.for_bootstrap(bootstrap)
    for index, topic in enumerate(["a", "b", "a"]):
        bus.produce(topic, b"k", f"{index}".encode(), [])
    first = [bus.take("g1", ["a", "b"], timeout=0) for _ in range(4)]
    assert [record.value if record else None for record in first] == [b"0", b"1", b"2", None]
    assert [record.offset for record in first if record] == [0, 0, 1]
    late = [bus.take("g2", ["a"], timeout=0) for _ in range(2)]
    assert [record.value for record in late if record] == [b"0", b"2"]


def test_members_of_a_group_share_its_records_and_a_waiting_member_wakes(bootstrap: str) -> None:
    bus = MemoryBus.for_bootstrap(bootstrap)
    taken: list[bytes] = []

    def member() -> None:
        record = bus.take("group", ["t"], timeout=5)
        assert record is not None
        taken.append(record.value)

    members = [threading.Thread(target=member) for _ in range(2)]
    for thread in members:
        thread.start()
    bus.produce("t", None, b"x", [])
    bus.produce("t", None, b"y", [])
    for thread in members:
        thread.join(5)
    assert sorted(taken) == [b"x", b"y"]


def test_buses_are_separate_per_name_and_a_producer_answers_like_kafka(bootstrap: str) -> None:
    assert broker_reachable(bootstrap)
    ensure_topics(bootstrap, {TOPIC: 4})  # nothing to create, and no broker to wait for
    producer = create_producer(bootstrap, "test")
    future = producer.send(TOPIC, key=b"k", value=b"v", headers=[("h", b"1")])
    assert future.get(timeout=1).offset == 0
    producer.flush()
    producer.close()
    assert [record.headers for record in MemoryBus.for_bootstrap(bootstrap).records(TOPIC)] == [
        [("h", b"1")]
    ]
    assert MemoryBus.for_bootstrap(f"memory://{uuid.uuid4().hex}").records(TOPIC) == []


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_outbox_relay_and_consumer_apply_each_event_once_through_the_bus(
    database: Database, bootstrap: str
) -> None:
    applied: list[str] = []

    def handler(session: Session, event: CloudEvent) -> None:
        if event.data.get("poison"):
            raise ValueError("cannot apply")
        applied.append(event.subject)

    publisher = EventPublisher("catalog", Outbox)
    with database.session(TENANT) as session:
        for subject in ("d1", "d2"):
            publisher.publish(session, TENANT, "dsw.catalog.dataset.created", subject, {"a": 1})
        publisher.publish(session, TENANT, "dsw.catalog.dataset.created", "d3", {"poison": 1})
    relay = OutboxRelay(database, Outbox, bootstrap=bootstrap, client_id="relay")
    assert relay.drain() == 3
    bus = MemoryBus.for_bootstrap(bootstrap)
    duplicate = bus.records(TOPIC)[0]
    bus.produce(TOPIC, duplicate.key, duplicate.value, duplicate.headers)

    consumer = EventConsumer(
        name="reader",
        database=database,
        processed_model=Processed,
        topics=[TOPIC],
        handler=handler,
        bootstrap=bootstrap,
        max_attempts=2,
        backoff_seconds=0.01,
    )
    consumer.start()
    try:
        _wait(lambda: consumer.stats.received == 4)
    finally:
        consumer.stop(5)
    assert applied == ["d1", "d2"]
    assert (consumer.stats.applied, consumer.stats.duplicates) == (2, 1)
    dead = bus.records(TOPIC + ".dlq")
    assert [json.loads(record.value)["subject"] for record in dead] == ["d3"]
    assert ("x-dead-letter-reason", b"ValueError: cannot apply") in dead[0].headers
