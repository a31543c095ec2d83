"""Scoring schedules: cron ticks (missed ones once, no overlap) and new input batches."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dsw_kit.db import Database, utcnow
from dsw_kit.work import LeasedWorker
from dsw_scoring.app import create_app
from dsw_scoring.models import ScoringRun, ScoringSchedule
from dsw_scoring.runs.worker import ScoringWorker
from dsw_scoring.schedules.ticker import ScheduleTicker, schedule_runner

from .conftest import World
from .helpers import ingest_csv, retail_rows


@pytest.fixture(scope="module")
def idle(world: World) -> Iterator[TestClient]:
    """Scoring without embedded workers, its own database and consumer groups."""
    platform = world.platform.model_copy(
        update={"kafka_group_prefix": f"test-{uuid.uuid4().hex[:8]}."}
    )
    settings = world.scoring_settings(embedded_workers=False, platform=platform)
    with TestClient(create_app(settings, transports=world.transports())) as client:
        yield client


def _runtime(client: TestClient) -> Any:
    return client.app.state.runtime  # type: ignore[attr-defined]


def _schedule(world: World, client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "nightly",
        "model": {"model_id": world.training_run["model_id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": f"scheduled-{uuid.uuid4().hex[:6]}"},
        **fields,
    }
    response = client.post("/scoring/v1/schedules", json=body, headers=world.headers())
    assert response.status_code == 201, response.text
    return dict(response.json())


def _runs(world: World, client: TestClient, schedule_id: str) -> list[dict[str, Any]]:
    page = client.get(
        "/scoring/v1/runs", params={"schedule_id": schedule_id}, headers=world.headers()
    ).json()
    return list(page["items"])


def _move_tick(client: TestClient, schedule_id: str, ago: timedelta) -> None:
    database: Database = _runtime(client).database
    with database.system_session() as session:
        schedule = session.get(ScoringSchedule, uuid.UUID(schedule_id))
        assert schedule is not None
        schedule.next_fire_at = utcnow() - ago


def test_cron_ticks_fire_once_without_overlap(world: World, idle: TestClient) -> None:
    headers = world.headers()
    schedule = _schedule(world, idle, cron="0 6 * * *")
    assert schedule["next_fire_at"] is not None
    ticker = ScheduleTicker(_runtime(idle))
    assert ticker.tick_once() == 0  # not due yet

    _move_tick(idle, schedule["id"], timedelta(days=3, hours=1))  # down for three days
    assert ticker.tick_once() == 1  # the missed ticks fire once
    current = idle.get(f"/scoring/v1/schedules/{schedule['id']}", headers=headers).json()
    assert current["ticks_skipped"] == 3
    assert current["runs_started"] == 1
    runs = _runs(world, idle, schedule["id"])
    assert [run["trigger"] for run in runs] == ["schedule"]
    assert runs[0]["model"]["version"] == world.training_run["mlflow"]["model_version"]
    assert runs[0]["output_dataset_id"] == schedule["output_dataset_id"]

    _move_tick(idle, schedule["id"], timedelta(minutes=1))
    assert ticker.tick_once() == 0  # the first run is still queued: no overlap
    assert len(_runs(world, idle, schedule["id"])) == 1

    worker = ScoringWorker(_runtime(idle))
    assert LeasedWorker(worker.queue, worker.process).run_once()
    done = idle.get(f"/scoring/v1/runs/{runs[0]['id']}", headers=headers).json()
    assert done["state"] == "succeeded", done
    assert done["progress"]["rows_scored"] > 0


def test_a_new_batch_is_scored_alone(world: World, idle: TestClient) -> None:
    headers = world.headers()
    schedule = _schedule(world, idle, on_new_data=True)
    assert schedule["next_fire_at"] is None
    runner = schedule_runner(_runtime(idle))
    runner.start()
    try:
        time.sleep(1.0)  # the consumer joins its group
        ingest_csv(world.catalog, headers, world.dataset_id, retail_rows(120))
        deadline = time.monotonic() + 60
        while not (runs := _runs(world, idle, schedule["id"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        runner.stop(5.0)
    assert [run["trigger"] for run in runs] == ["new_data"]
    assert len(runs[0]["input_batch_ids"]) == 1
    assert runs[0]["progress"]["rows_total"] == 120
    worker = ScoringWorker(_runtime(idle))
    assert LeasedWorker(worker.queue, worker.process).run_once()
    done = idle.get(f"/scoring/v1/runs/{runs[0]['id']}", headers=headers).json()
    assert (done["state"], done["progress"]["rows_scored"]) == ("succeeded", 120), done


def test_schedules_are_validated_changed_and_deleted(world: World, idle: TestClient) -> None:
    headers = world.headers()
    base = {
        "name": "bad",
        "model": {"model_id": world.training_run["model_id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": "never-made"},
    }
    for extra, pointer in (
        ({}, "/body/cron"),
        ({"cron": "61 * * * *"}, "/body/cron"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "/body/timezone"),
    ):
        response = idle.post("/scoring/v1/schedules", json=base | extra, headers=headers)
        assert response.status_code == 422, response.text
        assert pointer in {error["pointer"] for error in response.json()["errors"]}
    schedule = _schedule(world, idle, cron="0 6 * * *", timezone="Europe/Paris")
    url = f"/scoring/v1/schedules/{schedule['id']}"
    etag = idle.get(url, headers=headers).headers["etag"]
    stale = idle.patch(url, json={"enabled": False}, headers={**headers, "If-Match": '"999"'})
    assert stale.status_code == 412
    changed = idle.patch(url, json={"cron": "30 7 * * 1"}, headers={**headers, "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron"] == "30 7 * * 1"
    other = world.headers(org_id="org-b")
    assert idle.get(url, headers=other).status_code == 404
    assert idle.delete(url, headers=other).status_code == 404
    assert idle.delete(url, headers=headers).status_code == 204
    assert idle.get(url, headers=headers).status_code == 404
    assert ScoringRun  # runs of a deleted schedule stay (none here)
