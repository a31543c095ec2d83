"""A batch whose worker died is finished by another worker once the lease expires, and a
restarted catalog ingests every batch that is due, whether or not its command reached it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dsw_catalog.app import create_app
from dsw_catalog.batches.worker import IngestionWorker
from dsw_catalog.models import Batch, OutboxEvent, ProcessedEvent
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import TansuBroker
from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker

from .helpers import RETAIL_CSV, create_batch, create_dataset, upload, wait_final

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def client_without_workers(catalog_settings: CatalogSettings) -> Iterator[TestClient]:
    catalog_settings.embedded_workers = False
    with TestClient(create_app(catalog_settings)) as test_client:
        yield test_client


def test_an_expired_lease_is_taken_over(client_without_workers: TestClient, auth: Auth) -> None:
    client, headers = client_without_workers, auth()
    dataset_id = create_dataset(client, headers)
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, "retail.csv", RETAIL_CSV.read_bytes())
    assert (
        client.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers).status_code == 202
    )

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    database: Database = runtime.database
    with database.system_session() as session:
        batch = session.scalars(select(Batch)).one()
        # A worker claimed it, then died: its lease ran out.
        batch.lease_owner, batch.attempts = "dead-worker", 1
        batch.lease_expires = utcnow() - timedelta(seconds=1)

    ingestion = IngestionWorker(runtime)
    worker = LeasedWorker(ingestion.queue, ingestion.process)
    assert worker.run_once()
    done = client.get(f"/catalog/v1/batches/{batch_id}", headers=headers).json()
    assert (done["status"], done["attempts"], done["rows_written"]) == ("success", 2, 5175)
    assert not worker.run_once()  # nothing left to claim


def test_a_batch_gives_up_after_its_attempts(
    client_without_workers: TestClient, auth: Auth
) -> None:
    client, headers = client_without_workers, auth()
    dataset_id = create_dataset(client, headers)
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, "retail.csv", RETAIL_CSV.read_bytes())
    client.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.database.system_session() as session:
        batch = session.scalars(select(Batch)).one()
        batch.lease_owner, batch.attempts, batch.last_error = "dead", 3, "MemoryError: boom"
        batch.lease_expires = utcnow() - timedelta(seconds=1)
    ingestion = IngestionWorker(runtime)
    assert not LeasedWorker(ingestion.queue, ingestion.process).run_once()
    failed = client.get(f"/catalog/v1/batches/{batch_id}", headers=headers).json()
    assert failed["status"] == "failed"
    assert "after 3 attempts: MemoryError: boom" in failed["error"]


def _completed_batch(client: TestClient, headers: dict[str, str], dataset_id: str) -> str:
    """A batch with the retail file, completed: it waits for an ingestion worker."""
    batch_id = create_batch(client, headers, dataset_id)
    assert upload(client, headers, batch_id, "retail.csv", RETAIL_CSV.read_bytes()).is_success
    response = client.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers)
    assert response.status_code == 202, response.text
    return batch_id


def _wait_delivered(database: Database) -> None:
    """Wait until the relay has sent every outbox event to the broker."""
    deadline = time.monotonic() + 60
    unsent = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))
    while time.monotonic() < deadline:
        with database.system_session() as session:
            if session.scalar(unsent) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the relay did not deliver the outbox")


@pytest.mark.integration
def test_a_restarted_catalog_ingests_batches_whose_commands_or_workers_were_lost(
    catalog_settings: CatalogSettings, auth: Auth, tmp_path: Path
) -> None:
    """The catalog restarts on a broker that lost its messages (the embedded broker keeps them in
    memory): a completed batch whose command never reached a worker, and a batch whose worker
    died, are both ingested; nothing but their database rows says they are due."""
    headers = auth()
    catalog_settings.embedded_workers = False
    with TestClient(create_app(catalog_settings)) as before:
        dataset_id = create_dataset(before, headers)
        waiting = _completed_batch(before, headers, dataset_id)
        claimed = _completed_batch(before, headers, dataset_id)
        database: Database = before.app.state.runtime.database  # type: ignore[attr-defined]
        _wait_delivered(database)  # the commands went to the broker that is about to lose them
        with database.system_session() as session:
            batch = session.get(Batch, uuid.UUID(claimed))
            assert batch is not None
            batch.lease_owner, batch.attempts = "dead-worker", 1
            batch.lease_expires = utcnow() - timedelta(seconds=1)

    broker = TansuBroker(log_path=tmp_path / "restarted-broker.log").start()
    platform = catalog_settings.platform.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    restarted = catalog_settings.model_copy(update={"embedded_workers": True, "platform": platform})
    try:
        with TestClient(create_app(restarted)) as after:
            done = [wait_final(after, headers, batch_id) for batch_id in (waiting, claimed)]
            database = after.app.state.runtime.database  # type: ignore[attr-defined]
            with database.system_session() as session:
                woken_by = session.scalars(
                    select(ProcessedEvent.event_type).where(
                        ProcessedEvent.consumer == "catalog.ingest"
                    )
                ).all()
    finally:
        broker.stop()
    assert [(batch["status"], batch["attempts"], batch["rows_written"]) for batch in done] == [
        ("success", 1, 5175),
        ("success", 2, 5175),
    ]
    assert woken_by == []  # no command reached the restarted workers: they found the rows
