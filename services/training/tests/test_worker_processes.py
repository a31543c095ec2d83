"""Two real worker processes (``dsw-training worker runs``): runs spread across them, and a run
whose worker is killed with SIGKILL is finished by the other one (attempt 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dsw_training.models import TrainingRun
from dsw_training.settings import TrainingSettings

from .conftest import Stack
from .helpers import create_model, ingest_retail, request_run, wait_run

Auth = Callable[..., dict[str, str]]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


class WorkerProcess:
    """``dsw-training worker runs`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "dsw-training"), "worker", "runs"],
            env={**os.environ, **env},
            stdout=self._handle,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._handle.close()


@pytest.fixture
def workers(
    training_settings: TrainingSettings, dsw_home: Path, tmp_path: Path
) -> Iterator[list[WorkerProcess]]:
    platform = training_settings.platform
    env = {
        "DSW_TRAINING_DATABASE_URL": training_settings.resolved_database_url,
        "DSW_HOME": str(dsw_home),
        "DSW_KAFKA_BOOTSTRAP": platform.kafka_bootstrap,
        "DSW_KAFKA_GROUP_PREFIX": platform.kafka_group_prefix,
        "DSW_LOG_JSON": "false",
        "DSW_TRAINING_RUN_LEASE_SECONDS": "3",
        "DSW_TRAINING_RUN_POLL_SECONDS": "0.3",
        "DSW_TRAINING_CANCEL_POLL_SECONDS": "0.3",
        "DSW_TRAINING_PROGRESS_WRITE_SECONDS": "0.3",
    }
    started = [WorkerProcess(env, tmp_path / f"worker-{index}.log") for index in range(2)]
    yield started
    for worker in started:
        worker.stop()


def _owner_pid(lease_owner: str) -> int:
    # worker_identity(): "<role>@<host>:<pid>:<random>"
    return int(lease_owner.rsplit(":", 2)[1])


def test_a_killed_worker_s_run_is_finished_by_the_other_worker(
    stack_without_workers: Stack,
    auth: Auth,
    workers: list[WorkerProcess],
    training_settings: TrainingSettings,
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(
        stack.training,
        headers,
        dataset_id,
        hyperparameters={"n_estimators": 300, "learning_rate": 0.02, "num_threads": 1},
    )
    run_ids = [request_run(stack.training, headers, model["id"])["id"] for _ in range(2)]
    database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]

    # Both workers take one run each (each runs one at a time).
    owners: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(set(owners.values())) < 2:
        with database.system_session() as session:
            for run in session.scalars(select(TrainingRun)):
                if run.state == "running" and run.lease_owner:
                    owners[str(run.id)] = run.lease_owner
        time.sleep(0.1)
    assert len(set(owners.values())) == 2, owners
    pids = {worker.process.pid for worker in workers}
    assert {_owner_pid(owner) for owner in owners.values()} == pids

    victim_run = run_ids[0]
    victim_pid = _owner_pid(owners[victim_run])
    wait_run(
        stack.training,
        headers,
        victim_run,
        {"running"},
        condition=lambda run: run["progress"]["stage"] in ("train", "evaluate"),
    )
    os.kill(victim_pid, signal.SIGKILL)

    finished = [wait_run(stack.training, headers, run_id, timeout=120) for run_id in run_ids]
    assert [run["state"] for run in finished] == ["succeeded", "succeeded"], [
        (run["error"], run["log_tail"][-5:]) for run in finished
    ]
    assert finished[0]["attempts"] == 2
    assert finished[1]["attempts"] == 1
    versions = sorted(int(run["mlflow"]["model_version"]) for run in finished)
    assert versions == [1, 2]  # the killed attempt registered nothing
