"""Scoring workers: dead workers' runs are taken over, a retried run adds one batch, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker
from dsw_scoring.app import create_app
from dsw_scoring.models import OutboxEvent, ScoringRun
from dsw_scoring.runs.worker import ScoringWorker

from .conftest import World


@pytest.fixture(scope="module")
def idle(world: World) -> Iterator[TestClient]:
    """A scoring API without workers (its own database): tests drive the worker themselves."""
    settings = world.scoring_settings(embedded_workers=False, chunk_rows=500)
    with TestClient(create_app(settings, transports=world.transports())) as client:
        yield client


def _worker(client: TestClient, **settings: Any) -> tuple[ScoringWorker, LeasedWorker[ScoringRun]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    for name, value in settings.items():
        setattr(runtime.settings, name, value)
    scoring = ScoringWorker(runtime)
    return scoring, LeasedWorker(scoring.queue, scoring.process)


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _request(world: World, client: TestClient, name: str) -> dict[str, Any]:
    body = {
        "model": {"training_run_id": world.training_run["id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": name},
    }
    response = client.post("/scoring/v1/runs", json=body, headers=world.headers())
    assert response.status_code == 202, response.text
    return dict(response.json())


def _get(world: World, client: TestClient, run_id: str) -> dict[str, Any]:
    return dict(client.get(f"/scoring/v1/runs/{run_id}", headers=world.headers()).json())


def _batches(world: World, dataset_id: str) -> list[dict[str, Any]]:
    page = world.catalog.get(
        f"/catalog/v1/datasets/{dataset_id}/batches", headers=world.headers()
    ).json()
    return list(page["items"])


def _expire(client: TestClient, run_id: str, **values: Any) -> None:
    with _database(client).system_session() as session:
        run = session.scalars(select(ScoringRun).where(ScoringRun.id == uuid.UUID(run_id))).one()
        run.state, run.lease_owner = "running", "dead-worker"
        run.lease_expires = utcnow() - timedelta(seconds=1)
        for name, value in values.items():
            setattr(run, name, value)


def test_a_run_whose_worker_died_is_scored_again(world: World, idle: TestClient) -> None:
    run = _request(world, idle, "recovered")
    _expire(idle, run["id"], attempts=1)
    _, worker = _worker(idle)
    assert worker.run_once()
    done = _get(world, idle, run["id"])
    assert (done["state"], done["attempts"]) == ("succeeded", 2), done
    logs = idle.get(f"/scoring/v1/runs/{run['id']}/logs", headers=world.headers()).json()
    assert logs["attempt"] == 2
    assert logs["lines"]
    assert not worker.run_once()  # nothing left to claim


def test_a_retried_run_adds_one_batch_only(world: World, idle: TestClient) -> None:
    run = _request(world, idle, "once")
    _, worker = _worker(idle)
    assert worker.run_once()
    first = _get(world, idle, run["id"])
    assert first["state"] == "succeeded", first
    # The worker died after the catalog took the batch but before it recorded success.
    _expire(idle, run["id"], attempts=1)
    assert worker.run_once()
    again = _get(world, idle, run["id"])
    assert again["state"] == "succeeded", again
    assert again["output_batch_id"] == first["output_batch_id"]
    assert again["progress"]["rows_scored"] == first["progress"]["rows_scored"]
    batches = _batches(world, run["output_dataset_id"])
    assert [batch["id"] for batch in batches] == [first["output_batch_id"]]


def test_attempts_run_out_and_a_live_lease_is_left_alone(world: World, idle: TestClient) -> None:
    run = _request(world, idle, "exhausted")
    with _database(idle).system_session() as session:
        row = session.scalars(select(ScoringRun).where(ScoringRun.id == uuid.UUID(run["id"]))).one()
        row.state, row.lease_owner, row.attempts = "running", "busy-worker", 1
        row.lease_expires = utcnow() + timedelta(seconds=60)
    _, worker = _worker(idle)
    assert not worker.run_once()  # another worker holds it
    _expire(idle, run["id"], attempts=3, last_error="MemoryError: boom")
    assert not worker.run_once()
    failed = _get(world, idle, run["id"])
    assert failed["state"] == "failed"
    assert "after 3 attempts: MemoryError: boom" in failed["error"]
    with _database(idle).system_session() as session:
        types = [
            str(row.envelope["type"])
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.key == run["id"]))
        ]
    assert types[:2] == ["dsw.scoring.run.queued", "dsw.scoring.run.requested"]
    assert types[-1] == "dsw.scoring.run.failed"


def test_cancel_a_queued_and_a_running_run(world: World, idle: TestClient) -> None:
    headers = world.headers()
    queued = _request(world, idle, "cancel-queued")
    cancelled = idle.post(f"/scoring/v1/runs/{queued['id']}/cancel", headers=headers)
    assert cancelled.status_code == 202
    assert cancelled.json()["state"] == "cancelled"
    again = idle.post(f"/scoring/v1/runs/{queued['id']}/cancel", headers=headers)
    assert again.status_code == 409

    running = _request(world, idle, "cancel-running")
    scoring, _ = _worker(idle, cancel_poll_seconds=0.0)
    claim = scoring.queue.claim()
    assert claim is not None
    assert str(claim.job_id) == running["id"]
    asked = idle.post(f"/scoring/v1/runs/{running['id']}/cancel", headers=headers).json()
    assert (asked["state"], asked["cancel_requested"]) == ("running", True)
    scoring.process(claim)  # stops after its first chunk
    done = _get(world, idle, running["id"])
    assert done["state"] == "cancelled", done
    assert done["progress"]["rows_read"] < done["progress"]["rows_total"]
    assert done["output_batch_id"] is None
    assert _batches(world, running["output_dataset_id"]) == []
