"""The foundation's event guarantees, shown with a real broker, real databases and processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dsw_catalog.app import create_app as create_catalog
from dsw_catalog.models import OutboxEvent
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.db import Database, Tenant
from dsw_kit.events import create_producer, ensure_topics, new_event
from dsw_kit.migrations import upgrade
from dsw_kit.settings import PlatformSettings
from dsw_training.app import MIGRATIONS as TRAINING_MIGRATIONS
from dsw_training.app import create_app as create_training
from dsw_training.models import DatasetActivity, ProcessedEvent
from dsw_training.settings import TrainingSettings
from tests.conftest import DatabaseFactory, bearer, start_app
from tests.support.processes import ServiceProcess, wait_until

pytestmark = pytest.mark.integration
TENANT = Tenant("org-a", "prod")
CONSUMER = "training.catalog-events"


def _activity_count(database: Database) -> int:
    with database.system_session() as session:
        return int(session.scalar(select(func.count()).select_from(DatasetActivity)) or 0)


def test_event_from_one_service_is_consumed_by_another(
    platform: PlatformSettings, new_database: DatabaseFactory, issue_token: Callable[..., str]
) -> None:
    catalog = start_app(
        create_catalog, CatalogSettings(database_url=new_database("catalog"), platform=platform)
    )
    training = start_app(
        create_training, TrainingSettings(database_url=new_database("training"), platform=platform)
    )
    try:
        token = bearer(issue_token())
        created = catalog.post("/catalog/v1/datasets", json={"name": "sales"}, headers=token)
        assert created.status_code == 201
        dataset_id = created.json()["id"]

        url = f"/training/v1/datasets/{dataset_id}/activity"
        wait_until(lambda: training.get(url, headers=token).status_code == 200, timeout=60)
        activity = training.get(url, headers=token).json()
        assert activity["name"] == "sales"
        assert activity["deleted"] is False
        # Training's read model is tenant-scoped like everything else.
        other = training.get(url, headers=bearer(issue_token(org_id="org-b")))
        assert other.status_code == 404
    finally:
        catalog.__exit__(None, None, None)
        training.__exit__(None, None, None)


def test_outbox_keeps_events_while_the_broker_is_down(
    dsw_home: Path, new_database: DatabaseFactory, issue_token: Callable[..., str]
) -> None:
    port = free_port()
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=f"127.0.0.1:{port}", log_json=False)
    catalog_url = new_database("catalog")
    catalog = start_app(
        create_catalog, CatalogSettings(database_url=catalog_url, platform=platform)
    )
    broker = TansuBroker(port)
    training = None
    try:
        token = bearer(issue_token())
        for index in range(5):
            response = catalog.post(
                "/catalog/v1/datasets", json={"name": f"d{index}"}, headers=token
            )
            assert response.status_code == 201, response.text
        assert catalog.get("/readyz").status_code == 503

        catalog_db = Database(catalog_url)
        with catalog_db.system_session() as session:
            unsent = session.scalars(select(OutboxEvent).where(OutboxEvent.sent_at.is_(None)))
            assert len(list(unsent)) == 5

        broker.start()
        wait_until(lambda: _unsent(catalog_db) == 0, timeout=60)

        training = start_app(
            create_training,
            TrainingSettings(database_url=new_database("training"), platform=platform),
        )
        training_db = training.app.state.runtime.database  # type: ignore[attr-defined]
        wait_until(lambda: _activity_count(training_db) == 5, timeout=60)
        consumer = training.app.state.runtime.background[0]  # type: ignore[attr-defined]
        assert consumer.stats.applied == 5
        assert consumer.stats.duplicates == 0
        with training_db.system_session() as session:
            ids = list(session.scalars(select(ProcessedEvent.event_id)))
        assert len(ids) == len(set(ids)) == 5
        catalog_db.dispose()
    finally:
        catalog.__exit__(None, None, None)
        if training is not None:
            training.__exit__(None, None, None)
        broker.stop()


def _unsent(database: Database) -> int:
    with database.system_session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))
            )
            or 0
        )


def _publish_batch_events(bootstrap: str, count: int) -> list[str]:
    ensure_topics(bootstrap, {"dsw.catalog.events": 4})
    producer = create_producer(bootstrap, "test-catalog")
    dataset_ids = [str(uuid.uuid4()) for _ in range(count)]
    for dataset_id in dataset_ids:
        event = new_event(
            service="catalog",
            event_type="dsw.catalog.batch.succeeded",
            tenant=TENANT,
            subject=dataset_id,
            data={"dataset_id": dataset_id, "batch_id": str(uuid.uuid4()), "status": "success"},
        )
        producer.send(
            "dsw.catalog.events",
            key=dataset_id.encode(),
            value=json.dumps(event.model_dump(mode="json")).encode(),
        )
    producer.flush()
    producer.close()
    return dataset_ids


def _training_env(database_url: str, bootstrap: str, home: Path) -> dict[str, str]:
    return {
        "DSW_TRAINING_DATABASE_URL": database_url,
        "DSW_KAFKA_BOOTSTRAP": bootstrap,
        "DSW_HOME": str(home),
        "DSW_LOG_JSON": "false",
        # A fresh consumer group per test, so earlier tests' committed offsets do not matter.
        "DSW_KAFKA_GROUP_PREFIX": f"test-{uuid.uuid4().hex[:8]}.",
    }


def test_consumer_crash_before_offset_commit_does_not_apply_twice(
    fresh_broker: TansuBroker, new_database: DatabaseFactory, dsw_home: Path, tmp_path: Path
) -> None:
    import sys

    database_url = new_database("training")
    upgrade(database_url, TRAINING_MIGRATIONS)
    env = _training_env(database_url, fresh_broker.bootstrap, dsw_home)
    [dataset_id] = _publish_batch_events(fresh_broker.bootstrap, 1)
    script = Path(__file__).parent / "support" / "crashing_consumer.py"

    import subprocess

    crashed = subprocess.run(
        [sys.executable, str(script)], env={**_os_env(), **env}, capture_output=True, timeout=120
    )
    assert crashed.returncode == 17, crashed.stderr.decode()[-2000:]
    database = Database(database_url)
    with database.session(TENANT) as session:
        activity = session.scalar(
            select(DatasetActivity).where(DatasetActivity.dataset_id == dataset_id)
        )
        assert activity is not None
        assert activity.batches_succeeded == 1

    # The restarted consumer gets the event again (offset never committed) and skips it.
    worker = ServiceProcess("training", ["worker", "catalog-events"], env, tmp_path / "w.log")
    try:
        worker.wait_for_output(lambda text: "already applied" in text, timeout=90)
    finally:
        worker.stop()
    with database.session(TENANT) as session:
        activity = session.scalar(
            select(DatasetActivity).where(DatasetActivity.dataset_id == dataset_id)
        )
        assert activity is not None
        assert activity.batches_succeeded == 1
    database.dispose()


def _os_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_two_consumer_processes_split_partitions_and_see_every_event_once(
    fresh_broker: TansuBroker, new_database: DatabaseFactory, dsw_home: Path, tmp_path: Path
) -> None:
    database_url = new_database("training")
    upgrade(database_url, TRAINING_MIGRATIONS)
    env = _training_env(database_url, fresh_broker.bootstrap, dsw_home)
    workers = [
        ServiceProcess("training", ["worker", "catalog-events"], env, tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:
        # Wait until the group has settled with both members holding partitions.
        wait_until(lambda: all(_last_assignment(w.output()) for w in workers), timeout=90)
        wait_until(lambda: _settled(workers), timeout=90)
        dataset_ids = _publish_batch_events(fresh_broker.bootstrap, 100)
        database = Database(database_url)
        wait_until(lambda: _activity_count(database) >= 100, timeout=90)
    finally:
        codes = [worker.stop() for worker in workers]
    assert codes == [0, 0]
    applied = [_stopped_stats(worker.output())["applied"] for worker in workers]
    assert sum(applied) == 100
    assert all(count > 0 for count in applied), applied
    with database.session(TENANT) as session:
        rows = list(session.scalars(select(DatasetActivity)))
    assert sorted(row.dataset_id for row in rows) == sorted(dataset_ids)
    assert {row.batches_succeeded for row in rows} == {1}
    database.dispose()


def _last_assignment(log: str) -> list[str]:
    lines = [line for line in log.splitlines() if "training.catalog-events assigned" in line]
    if not lines:
        return []
    listed = lines[-1].split("assigned", 1)[1].strip()
    return [item.strip(" '") for item in listed.strip("[]").split(",") if item.strip(" '")]


def _settled(workers: list[ServiceProcess]) -> bool:
    assignments = [set(_last_assignment(worker.output())) for worker in workers]
    union = set().union(*assignments)
    disjoint = sum(len(a) for a in assignments) == len(union)
    return disjoint and len(union) == 4 and all(assignments)


def _stopped_stats(log: str) -> dict[str, int]:
    line = [line for line in log.splitlines() if "training.catalog-events stopped:" in line][-1]
    pairs = line.split("stopped:", 1)[1].split()
    return {key: int(value) for key, value in (pair.split("=") for pair in pairs)}
