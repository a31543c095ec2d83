"""Runs survive dead workers and duplicated commands: the state transition guards every claim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker
from dsw_training.models import OutboxEvent, TrainingRun
from dsw_training.runs.worker import TrainingWorker

from .conftest import Stack
from .helpers import create_model, ingest_retail, request_run

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


def test_a_duplicated_command_does_not_run_a_run_twice(
    stack_without_workers: Stack, auth: Auth, request: pytest.FixtureRequest
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run_id = request_run(stack.training, headers, model["id"])["id"]
    training, worker = _worker(stack, request)
    # The command arrives twice (redelivery): each wakes the worker, only one claim succeeds.
    worker.wake()
    assert worker.run_once()
    worker.wake()
    assert not worker.run_once()
    done = stack.training.get(f"/training/v1/runs/{run_id}", headers=headers).json()
    assert (done["state"], done["attempts"]) == ("succeeded", 1)
    with training.database.system_session() as session:
        types = [
            str(row.envelope["type"])
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.key == run_id))
        ]
    assert types.count("dsw.training.run.started") == 1
    assert types.count("dsw.training.run.succeeded") == 1
