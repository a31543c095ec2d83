"""Runs survive dead workers, lost and duplicated commands: the state transition guards every
claim, and the workers find due runs from the database alone."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient
from sqlalchemy import select

from dsw_kit.db import Database, utcnow
from dsw_kit.events import create_producer
from dsw_kit.work import LeasedWorker
from dsw_training.app import create_app
from dsw_training.models import OutboxEvent, ProcessedEvent, TrainingRun
from dsw_training.runs.worker import TrainingWorker, TrainingWorkers
from dsw_training.settings import TrainingSettings

from .conftest import Stack
from .helpers import create_model, ingest_retail, request_run, wait_run
from .restart import commands_received, commands_sent, restarted, wait_delivered

Auth = Callable[..., dict[str, str]]


def _worker(
    stack: Stack, request: pytest.FixtureRequest
) -> tuple[TrainingWorker, LeasedWorker[TrainingRun]]:
    runtime = stack.training.app.state.runtime  # type: ignore[attr-defined]
    training = TrainingWorker(runtime)
    # The worker keeps the next run's process ready; stop it with the test.
    request.addfinalizer(training.discard_child)
    return training, LeasedWorker(training.queue, training.process)


def test_a_run_whose_worker_died_is_run_again(
    stack_without_workers: Stack, auth: Auth, request: pytest.FixtureRequest
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run_id = request_run(stack.training, headers, model["id"])["id"]
    database: Database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        run = session.scalars(select(TrainingRun)).one()
        # A worker claimed it, started training, then died: its lease ran out.
        run.state, run.lease_owner, run.attempts = "running", "dead-worker", 1
        run.lease_expires = utcnow() - timedelta(seconds=1)

    _, worker = _worker(stack, request)
    assert worker.run_once()
    done = stack.training.get(f"/training/v1/runs/{run_id}", headers=headers).json()
    assert (done["state"], done["attempts"]) == ("succeeded", 2)
    logs = stack.training.get(f"/training/v1/runs/{run_id}/logs", headers=headers).json()
    assert logs["attempt"] == 2
    assert logs["lines"]
    assert not worker.run_once()  # nothing left to claim


def test_a_live_lease_is_not_taken_and_attempts_run_out(
    stack_without_workers: Stack, auth: Auth, request: pytest.FixtureRequest
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run_id = request_run(stack.training, headers, model["id"])["id"]
    database: Database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        run = session.scalars(select(TrainingRun)).one()
        run.state, run.lease_owner, run.attempts = "running", "busy-worker", 1
        run.lease_expires = utcnow() + timedelta(seconds=60)
    _, worker = _worker(stack, request)
    assert not worker.run_once()  # another worker holds it

    with database.system_session() as session:
        run = session.scalars(select(TrainingRun)).one()
        run.lease_owner, run.attempts, run.last_error = "dead", 3, "MemoryError: boom"
        run.lease_expires = utcnow() - timedelta(seconds=1)
    assert not worker.run_once()
    failed = stack.training.get(f"/training/v1/runs/{run_id}", headers=headers).json()
    assert failed["state"] == "failed"
    assert "after 3 attempts: MemoryError: boom" in failed["error"]


# MLflow's SQLAlchemy store uses a loader SQLAlchemy deprecated (read here through MlflowClient).
@pytest.mark.broker
@pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")
def test_a_command_delivered_twice_through_the_broker_runs_the_run_once(
    stack: Stack, auth: Auth, training_settings: TrainingSettings
) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run_id = request_run(stack.training, headers, model["id"])["id"]
    runtime: Any = stack.training.app.state.runtime  # type: ignore[attr-defined]
    with runtime.database.system_session() as session:
        envelope = next(
            dict(row.envelope)
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.key == run_id))
            if row.envelope["type"] == "dsw.training.run.requested"
        )
    # The relay sends the command once; the broker gets it twice more: the same event again (a
    # redelivery) and a copy with a new id (a re-sent command), which passes the consumer's
    # processed-events check and wakes the worker.
    producer = create_producer(training_settings.platform.kafka_bootstrap, "test-duplicates")
    resent = {**envelope, "id": str(uuid.uuid4())}
    for copy in (envelope, resent):
        producer.send(
            "dsw.training.commands",
            key=run_id.encode(),
            value=json.dumps(copy).encode(),
            headers=[("ce_type", b"dsw.training.run.requested")],
        )
    producer.flush(timeout=10)
    producer.close()

    run = wait_run(stack.training, headers, run_id)
    assert run["state"] == "succeeded", run
    workers = next(item for item in runtime.background if isinstance(item, TrainingWorkers))
    leased, wakeup = workers.components
    # The topic also holds other tests' commands: follow ours through processed_events.
    ours = {envelope["id"], resent["id"]}

    def applied() -> set[str]:
        with runtime.database.system_session() as session:
            return set(
                session.scalars(
                    select(ProcessedEvent.event_id).where(
                        ProcessedEvent.consumer == "training.runs",
                        ProcessedEvent.event_id.in_(ours),
                    )
                )
            )

    deadline = time.monotonic() + 60
    while (applied() != ours or wakeup.stats.duplicates < 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert applied() == ours
    assert wakeup.stats.duplicates >= 1
    # Each applied command woke the worker; the claim (queued -> running) took the run once.
    while leased.processed < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker counts a job after recording it
    assert leased.processed == 1
    again = stack.training.get(f"/training/v1/runs/{run_id}", headers=headers).json()
    assert (again["state"], again["attempts"]) == ("succeeded", 1)
    with runtime.database.system_session() as session:
        types = [
            str(row.envelope["type"])
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.key == run_id))
        ]
    assert types.count("dsw.training.run.started") == 1
    assert types.count("dsw.training.run.succeeded") == 1
    mlflow = MlflowClient(tracking_uri=training_settings.platform.resolved_mlflow_tracking_uri)
    versions = mlflow.search_model_versions(f"name='{model['registered_model_name']}'")
    assert [str(version.version) for version in versions] == ["1"]


# Two trainings and two service starts: minutes on a loaded machine.
@pytest.mark.timeout(600)
# MLflow's SQLAlchemy store uses a loader SQLAlchemy deprecated (read here through MlflowClient).
@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")
def test_a_restarted_service_runs_what_its_lost_commands_and_dead_workers_left(
    training_settings: TrainingSettings, catalog: TestClient, auth: Auth, tmp_path: Path
) -> None:
    """Training restarts on a broker that lost its messages: a queued run whose command never
    reached a worker, and a run whose worker died, both run (once) from their rows alone."""
    headers = auth()
    training_settings.embedded_workers = False
    app = create_app(training_settings, transports={"catalog": catalog._transport})
    with TestClient(app) as before:
        model = create_model(before, headers, ingest_retail(catalog, headers))
        waiting, claimed = (request_run(before, headers, model["id"])["id"] for _ in range(2))
        database: Database = before.app.state.runtime.database  # type: ignore[attr-defined]
        wait_delivered(database)  # the commands went to the broker that is about to lose them
        lost = commands_sent(database)
        with database.system_session() as session:
            run = session.get(TrainingRun, uuid.UUID(claimed))
            assert run is not None
            run.state, run.lease_owner, run.attempts = "running", "dead-worker", 1
            run.lease_expires = utcnow() - timedelta(seconds=1)

    with restarted(training_settings, catalog, tmp_path) as after:
        done = [wait_run(after, headers, run_id, timeout=180) for run_id in (waiting, claimed)]
        woken_by = commands_received(after)
    assert [(run["state"], run["attempts"]) for run in done] == [
        ("succeeded", 1),
        ("succeeded", 2),
    ], [run["error"] for run in done]
    assert len(lost) == 2
    assert not lost & woken_by  # no command reached the restarted workers: they found the rows
    mlflow = MlflowClient(tracking_uri=training_settings.platform.resolved_mlflow_tracking_uri)
    versions = mlflow.search_model_versions(f"name='{model['registered_model_name']}'")
    assert sorted(int(version.version) for version in versions) == [1, 2]
