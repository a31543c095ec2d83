"""Scoring workers: dead workers' runs are taken over (in process, after a SIGKILL of a real worker
process, after a restart that lost the commands), a retried run adds one batch, cancel."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsw_kit.broker import TansuBroker
from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker
from dsw_scoring.app import create_app
from dsw_scoring.models import OutboxEvent, ProcessedEvent, ScoringRun
from dsw_scoring.runs.worker import ScoringWorker
from dsw_scoring.settings import ScoringSettings

from .conftest import World
from .helpers import wait_run
from .processes import ServedApp, WorkerProcess, owner_pid


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


@pytest.fixture
def catalog_url(world: World) -> Iterator[str]:
    """The module's catalog over HTTP, for worker processes."""
    served = ServedApp(world.catalog.app).start()
    yield served.url
    served.stop()


def _worker_environment(
    world: World, settings: ScoringSettings, catalog_url: str
) -> dict[str, str]:
    return {
        "DSW_HOME": str(world.home),
        "DSW_KAFKA_BOOTSTRAP": world.platform.kafka_bootstrap,
        "DSW_KAFKA_GROUP_PREFIX": world.platform.kafka_group_prefix + "processes.",
        "DSW_LOG_JSON": "false",
        "DSW_SCORING_DATABASE_URL": settings.resolved_database_url,
        "DSW_SCORING_CATALOG_URL": catalog_url,
        "DSW_SCORING_RUN_LEASE_SECONDS": "10",
        # A loaded machine may starve a heartbeat: a lease lost that way must not fail the run.
        "DSW_SCORING_RUN_MAX_ATTEMPTS": "10",
        "DSW_SCORING_RUN_POLL_SECONDS": "0.3",
        "DSW_SCORING_REGISTER_POLL_SECONDS": "0.1",
        # Small chunks, each one's progress written: the run is long enough to be killed midway.
        "DSW_SCORING_CHUNK_ROWS": "10",
        "DSW_SCORING_PROGRESS_WRITE_SECONDS": "0",
    }


def _wait_mid_run(client: TestClient, run_id: str) -> ScoringRun:
    """The run's row once a worker has written some of its chunks (it is not done yet)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with _database(client).system_session() as session:
            run = session.get(ScoringRun, uuid.UUID(run_id))
            assert run is not None
            assert run.state in ("queued", "running"), (run.state, run.error)
            if run.state == "running" and run.rows_scored > 0:
                session.expunge(run)
                return run
        time.sleep(0.05)
    raise AssertionError(f"scoring run {run_id} did not start scoring")


@pytest.mark.integration
# Two worker processes import MLflow, then score in many small chunks: minutes on a loaded machine.
@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_a_killed_worker_s_run_is_finished_by_another_with_one_output_batch(
    world: World, catalog_url: str, tmp_path: Path
) -> None:
    settings = world.scoring_settings(embedded_workers=False)
    env = _worker_environment(world, settings, catalog_url)
    with TestClient(create_app(settings, transports=world.transports())) as api:
        workers = [WorkerProcess(env, tmp_path / f"worker-{index}.log") for index in range(2)]
        try:
            for worker in workers:
                worker.wait_ready()
            run = _request(world, api, "killed")
            midway = _wait_mid_run(api, run["id"])
            assert midway.lease_owner is not None
            victim = next(w for w in workers if w.pid == owner_pid(midway.lease_owner))
            survivor = next(w for w in workers if w is not victim)
            victim.kill()
            done = wait_run(api, world.headers(), run["id"], timeout=600)
        finally:
            for worker in workers:
                worker.stop()
    assert done["state"] == "succeeded", (done, survivor.output()[-3000:])
    assert 0 < midway.rows_scored < done["progress"]["rows_total"]
    assert done["attempts"] >= 2  # the killed attempt counts
    assert f"scoring run {run['id']} succeeded" in survivor.output()
    rows_total = done["progress"]["rows_total"]
    assert done["progress"]["rows_scored"] == rows_total > 0
    batches = _batches(world, run["output_dataset_id"])
    assert [(batch["id"], batch["rows_written"]) for batch in batches] == [
        (done["output_batch_id"], rows_total)
    ]


def _wait_delivered(database: Database) -> set[str]:
    """Wait until the relay has sent the whole outbox; the ids of the run commands in it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with database.system_session() as session:
            rows = list(session.scalars(select(OutboxEvent)))
        if all(row.sent_at is not None for row in rows):
            return {
                row.event_id for row in rows if row.envelope["type"] == "dsw.scoring.run.requested"
            }
        time.sleep(0.1)
    raise AssertionError("the relay did not deliver the outbox")


def _commands_received(database: Database) -> set[str]:
    with database.system_session() as session:
        return set(
            session.scalars(
                select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "scoring.runs")
            )
        )


# Two service starts and two scorings: minutes on a loaded machine.
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_restarted_service_scores_what_its_lost_commands_and_dead_workers_left(
    world: World, tmp_path: Path
) -> None:
    """Scoring restarts on a broker that lost its messages: a queued run whose command never
    reached a worker, and a run whose worker died, are both scored, each into one batch."""
    settings = world.scoring_settings(embedded_workers=False)
    with TestClient(create_app(settings, transports=world.transports())) as before:
        waiting = _request(world, before, "restart-queued")
        claimed = _request(world, before, "restart-claimed")
        lost = _wait_delivered(_database(before))  # sent to the broker that is about to lose them
        _expire(before, claimed["id"], attempts=1)

    broker = TansuBroker(log_path=tmp_path / "restarted-broker.log").start()
    platform = settings.platform.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    again = settings.model_copy(update={"embedded_workers": True, "platform": platform})
    try:
        with TestClient(create_app(again, transports=world.transports())) as after:
            done = [_wait_final(world, after, run["id"]) for run in (waiting, claimed)]
            woken_by = _commands_received(_database(after))
    finally:
        broker.stop()
    assert [(run["state"], run["attempts"]) for run in done] == [
        ("succeeded", 1),
        ("succeeded", 2),
    ], [run["error"] for run in done]
    assert len(lost) == 2
    assert not lost & woken_by  # no command reached the restarted workers: they found the rows
    for run in done:
        batches = _batches(world, run["output_dataset_id"])
        assert [(batch["id"], batch["rows_written"]) for batch in batches] == [
            (run["output_batch_id"], run["progress"]["rows_total"])
        ]


def _wait_final(world: World, client: TestClient, run_id: str) -> dict[str, Any]:
    return wait_run(client, world.headers(), run_id, timeout=240)
