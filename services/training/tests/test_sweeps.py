"""Sweeps: strategies pick trials (grid, seeded random, Optuna TPE), a driver runs them as training
runs within the budget and reports the best run; cancelling stops the trials."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dsw_kit.db import utcnow
from dsw_kit.work import LeasedWorker
from dsw_training.app import create_app
from dsw_training.models import Sweep
from dsw_training.runs.worker import TrainingWorker
from dsw_training.settings import TrainingSettings
from dsw_training.sweeps.driver import SweepDriver
from dsw_training.sweeps.strategies import grid_points, random_point, suggest

from .conftest import Stack
from .helpers import create_model, ingest_retail
from .restart import commands_received, commands_sent, restarted, wait_delivered

Auth = Callable[..., dict[str, str]]

SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
    "num_leaves": {"type": "int", "low": 4, "high": 64},
    "target_transform": {"type": "choice", "values": ["log", "none"]},
}


def test_grid_and_random_points_are_stable() -> None:
    grid = grid_points(
        {
            "num_leaves": {"type": "int", "low": 4, "high": 6},
            "x": {"type": "choice", "values": ["a", "b"]},
        }
    )
    assert grid == [
        {"num_leaves": 4, "x": "a"},
        {"num_leaves": 4, "x": "b"},
        {"num_leaves": 5, "x": "a"},
        {"num_leaves": 5, "x": "b"},
        {"num_leaves": 6, "x": "a"},
        {"num_leaves": 6, "x": "b"},
    ]
    with pytest.raises(ValueError, match="float range needs values"):
        grid_points({"learning_rate": SPACE["learning_rate"]})
    first = random_point(SPACE, seed=3, index=0)
    assert first == random_point(SPACE, seed=3, index=0)
    assert first != random_point(SPACE, seed=3, index=1)
    assert 0.01 <= first["learning_rate"] <= 0.3
    assert 4 <= first["num_leaves"] <= 64
    assert (
        suggest(
            "grid",
            {"a": {"type": "choice", "values": [1]}},
            seed=0,
            index=1,
            history=[],
            direction="min",
            max_trials=5,
        )
        is None
    )


def test_tpe_learns_from_finished_trials() -> None:
    space = {"x": {"type": "float", "low": -10.0, "high": 10.0}}
    history: list[tuple[dict[str, Any], float | None]] = []
    for index in range(25):
        point = suggest(
            "tpe", space, seed=1, index=index, history=history, direction="min", max_trials=30
        )
        assert point is not None
        history.append((point, (point["x"] - 3.0) ** 2))
    distances = [abs(params["x"] - 3.0) for params, _ in history]
    # After its random start-up trials, TPE concentrates near the optimum x = 3.
    assert sum(distances[-10:]) / 10 < sum(distances[:10]) / 10
    assert min(distances) < 0.5
    failed = suggest(
        "tpe", space, seed=1, index=26, history=[({"x": 1.0}, None)], direction="min", max_trials=30
    )
    assert failed is not None


def _wait_sweep(
    stack: Stack, headers: dict[str, str], sweep_id: str, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    sweep: dict[str, Any] = {}
    while time.monotonic() < deadline:
        sweep = stack.training.get(f"/training/v1/sweeps/{sweep_id}", headers=headers).json()
        if sweep["state"] != "running":
            return sweep
        time.sleep(0.2)
    raise AssertionError(f"sweep did not finish: {sweep}")


def test_a_grid_sweep_trains_each_point_and_names_the_best_run(stack: Stack, auth: Auth) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    invalid = stack.training.post(
        f"/training/v1/models/{model['id']}/sweeps",
        json={
            "strategy": "random",
            "space": {
                "num_leaves": {"type": "int", "low": 1, "high": 8},
                "bogus": {"type": "choice", "values": [1]},
            },
            "objective": {"metric": "rmse"},
        },
        headers=headers,
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "invalid_space"
    response = stack.training.post(
        f"/training/v1/models/{model['id']}/sweeps",
        json={
            "strategy": "grid",
            "space": {"num_leaves": {"type": "choice", "values": [4, 16]}},
            "objective": {"metric": "rmse", "direction": "min"},
            "max_trials": 5,
            "parallelism": 2,
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text
    sweep = _wait_sweep(stack, headers, response.json()["id"])
    assert sweep["state"] == "succeeded", sweep
    assert sweep["trials"]["total"] == 2
    assert sweep["trials"]["succeeded"] == 2
    runs = stack.training.get(
        f"/training/v1/models/{model['id']}/runs?orderby=metrics.rmse", headers=headers
    ).json()["items"]
    assert sorted(run["params"]["num_leaves"] for run in runs) == [4, 16]
    assert all(run["trigger"] == "sweep" and run["sweep_id"] == sweep["id"] for run in runs)
    assert sweep["best"] == {"run_id": runs[0]["id"], "value": runs[0]["metrics"]["rmse"]}


def test_cancelling_a_sweep_cancels_its_open_trials(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    created = stack.training.post(
        f"/training/v1/models/{model['id']}/sweeps",
        json={
            "strategy": "tpe",
            "space": {"num_leaves": {"type": "int", "low": 4, "high": 32}},
            "objective": {"metric": "mape"},
            "max_trials": 10,
            "parallelism": 3,
        },
        headers=headers,
    ).json()
    # No embedded workers here: drive the sweep by hand.
    driver = SweepDriver(stack.training.app.state.runtime)  # type: ignore[attr-defined]
    claim = driver.queue.claim()
    assert claim is not None
    assert not driver.step(claim)
    sweep = stack.training.get(f"/training/v1/sweeps/{created['id']}", headers=headers).json()
    assert sweep["trials"]["queued"] == 3  # the parallelism limit
    assert not driver.step(claim)  # no room: still three
    cancel = stack.training.post(f"/training/v1/sweeps/{created['id']}/cancel", headers=headers)
    assert cancel.status_code == 202
    assert driver.step(claim)
    sweep = stack.training.get(f"/training/v1/sweeps/{created['id']}", headers=headers).json()
    assert sweep["state"] == "cancelled"
    assert sweep["trials"]["cancelled"] == 3


# Seeded random points 0 and 1 of this space are (0.3, 40) and (1e-6, 10000): a quick good
# trial, then a terrible one long enough to be watched (see the last assertions).
PRUNING_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "choice", "values": [0.3, 1e-6]},
    "n_estimators": {"type": "choice", "values": [40, 10_000]},
}
PRUNING_SEED = 14


def test_early_stopping_prunes_a_clearly_bad_trial(stack: Stack, auth: Auth) -> None:
    points = [random_point(PRUNING_SPACE, PRUNING_SEED, index) for index in range(2)]
    assert points == [
        {"learning_rate": 0.3, "n_estimators": 40},
        {"learning_rate": 1e-6, "n_estimators": 10_000},
    ]
    headers = auth()
    model = create_model(stack.training, headers, ingest_retail(stack.catalog, headers))
    early_stopping = {"n_startup_trials": 1, "n_warmup_steps": 5}
    response = stack.training.post(
        f"/training/v1/models/{model['id']}/sweeps",
        json={
            "strategy": "random",
            "seed": PRUNING_SEED,
            "space": PRUNING_SPACE,
            "objective": {"metric": "rmse"},
            "max_trials": 2,
            "parallelism": 1,
            "early_stopping": early_stopping,
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text
    sweep = _wait_sweep(stack, headers, response.json()["id"], timeout=180)
    assert sweep["state"] == "succeeded", sweep
    assert sweep["early_stopping"] == early_stopping
    assert (sweep["trials"]["succeeded"], sweep["trials"]["pruned"]) == (1, 1)
    good, bad = stack.training.get(
        f"/training/v1/models/{model['id']}/runs?orderby=created", headers=headers
    ).json()["items"]
    assert good["intermediate"][-1][0] == 40
    assert bad["params"]["learning_rate"] == 1e-6
    assert bad["state"] == "cancelled"
    # Judged at the last round both reached when the driver looked (at most the good one's 40).
    assert re.match(r"pruned at iteration (\d+): best training l2 so far", bad["cancel_reason"])
    assert 5 <= int(bad["cancel_reason"].split()[3].rstrip(":")) <= 40
    # Stopped well before its 10,000 rounds (it reports every 100th round from 1,000 on).
    assert bad["intermediate"][-1][0] < 10_000
    assert sweep["best"]["run_id"] == good["id"]


# Three trainings and two service starts: minutes on a loaded machine.
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_restarted_service_resumes_a_sweep_whose_driver_died_between_trials(
    training_settings: TrainingSettings,
    catalog: TestClient,
    auth: Auth,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The driver queued two trials, one of them ran, then the driver died; the service restarts on
    a broker that lost its messages. A new driver takes the sweep over once its lease expired,
    the queued trial runs, the last grid point is queued once, and the sweep names its best."""
    headers = auth()
    training_settings.embedded_workers = False
    app = create_app(training_settings, transports={"catalog": catalog._transport})
    with TestClient(app) as before:
        model = create_model(before, headers, ingest_retail(catalog, headers))
        created = before.post(
            f"/training/v1/models/{model['id']}/sweeps",
            json={
                "strategy": "grid",
                "space": {"num_leaves": {"type": "choice", "values": [4, 8, 16]}},
                "objective": {"metric": "rmse", "direction": "min"},
                "max_trials": 3,
                "parallelism": 2,
            },
            headers=headers,
        )
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
        runtime = before.app.state.runtime  # type: ignore[attr-defined]
        driver = SweepDriver(runtime)
        claim = driver.queue.claim()
        assert claim is not None
        assert not driver.step(claim)  # two trials queued
        training = TrainingWorker(runtime)
        request.addfinalizer(training.discard_child)
        assert LeasedWorker(training.queue, training.process).run_once()  # one trial ran
        with runtime.database.system_session() as session:
            sweep = session.get(Sweep, uuid.UUID(sweep_id))
            assert sweep is not None
            sweep.lease_expires = utcnow() - timedelta(seconds=1)  # the driver died
        wait_delivered(runtime.database)  # the commands went to the broker that loses them
        lost = commands_sent(runtime.database)

    with restarted(training_settings, catalog, tmp_path) as after:
        stack = Stack(after, catalog)
        sweep = _wait_sweep(stack, headers, sweep_id, timeout=240)
        runs = after.get(
            f"/training/v1/models/{model['id']}/runs?orderby=metrics.rmse", headers=headers
        ).json()["items"]
        woken_by = commands_received(after)
        database = after.app.state.runtime.database  # type: ignore[attr-defined]
        with database.system_session() as session:
            sweep_row = session.get(Sweep, uuid.UUID(sweep_id))
            assert sweep_row is not None
            attempts = sweep_row.attempts
    assert sweep["state"] == "succeeded", sweep
    assert (sweep["trials"]["total"], sweep["trials"]["succeeded"]) == (3, 3)
    assert sorted(run["params"]["num_leaves"] for run in runs) == [4, 8, 16]
    assert [run["attempts"] for run in runs] == [1, 1, 1]
    assert attempts == 2  # the dead driver's claim and the new driver's
    assert sweep["best"] == {"run_id": runs[0]["id"], "value": runs[0]["metrics"]["rmse"]}
    assert len(lost) == 2
    assert not lost & woken_by  # the trial queued before the restart was found by polling
