"""A batch whose worker died is finished by another worker once the lease expires."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsw_catalog.app import create_app
from dsw_catalog.batches.worker import IngestionWorker
from dsw_catalog.models import Batch
from dsw_catalog.settings import CatalogSettings
from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker

from .helpers import RETAIL_CSV, create_batch, create_dataset, upload

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
