"""Schedules: CRUD with ETags, the ticker (missed ticks once, atomic claims, skips while the
previous run is open), and retraining on new data through the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dsw_kit.db import Database, utcnow
from dsw_training.models import OutboxEvent, TrainingRun, TrainingSchedule
from dsw_training.schedules.ticker import Plan, ScheduleTicker

from .conftest import Stack
from .helpers import add_batch, create_model, ingest_retail, wait_run

Auth = Callable[..., dict[str, str]]

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")


def _database(stack: Stack) -> Database:
    database: Database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _ticker(stack: Stack) -> ScheduleTicker:
    app: Any = stack.training.app
    return ScheduleTicker(app.state.runtime, app.state.upstreams.catalog)


def _create(stack: Stack, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = stack.training.post("/training/v1/schedules", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _overdue(stack: Stack, schedule_id: str, hours: float) -> None:
    """Pretend the ticker was down: the awaited tick was ``hours`` ago."""
    with _database(stack).system_session() as session:
        schedule = session.scalars(select(TrainingSchedule)).one()
        assert str(schedule.id) == schedule_id
        schedule.next_fire_at = utcnow() - timedelta(hours=hours)


def test_schedule_crud_validation_etags_and_tenancy(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    model = create_model(stack.training, headers, ingest_retail(stack.catalog, headers))
    url = "/training/v1/schedules"

    bad = [
        ({"cron": "61 * * * *"}, "/body/cron"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "/body/timezone"),
        ({}, "/body/cron"),  # neither cron nor on_new_data
        ({"cron": "0 0 30 2 *"}, "/body/cron"),  # never fires
        (
            {"cron": "0 6 * * *", "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "/body/end",
        ),
        ({"cron": "0 6 * * *", "hyperparameters": {"num_leaves": -3}}, "/body/hyperparameters"),
    ]
    for body, pointer in bad:
        response = stack.training.post(url, json={"model_id": model["id"], **body}, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["pointer"].startswith(pointer), response.json()

    created = stack.training.post(
        url,
        json={
            "model_id": model["id"],
            "name": "mondays",
            "cron": " 0  6 * * 1 ",
            "timezone": "Europe/Paris",
            "on_new_data": True,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert created.headers["ETag"] == '"1"'
    assert schedule["cron"] == "0 6 * * 1"
    assert schedule["next_fire_at"] is not None
    assert schedule["fired"] == schedule["skipped"] == 0

    one = f"{url}/{schedule['id']}"
    stale = stack.training.patch(
        one, json={"cron": "0 7 * * 1"}, headers={**headers, "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    changed = stack.training.patch(
        one, json={"cron": "0 7 * * 1"}, headers={**headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"'
    disabled = stack.training.post(f"{one}/disable", headers=headers).json()
    assert (disabled["enabled"], disabled["next_fire_at"]) == (False, None)
    enabled = stack.training.post(f"{one}/enable", headers=headers).json()
    assert enabled["enabled"]
    assert enabled["next_fire_at"] is not None
    listed = stack.training.get(f"{url}?model_id={model['id']}", headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [schedule["id"]]

    for intruder in (auth(org_id="org-b"), auth(sandboxes=("dev",))):
        assert stack.training.get(one, headers=intruder).status_code == 404
        assert stack.training.get(url, headers=intruder).json()["items"] == []
    other = auth(org_id="org-b")
    foreign = stack.training.post(
        url, json={"model_id": model["id"], "cron": "0 * * * *"}, headers=other
    )
    assert foreign.status_code == 404

    assert stack.training.delete(one, headers=headers).status_code == 204
    assert stack.training.get(one, headers=headers).status_code == 404

    # Deleting the model disables its schedules (kept for their history).
    kept = _create(stack, headers, model_id=model["id"], cron="0 * * * *")
    deleted = stack.training.delete(f"/training/v1/models/{model['id']}", headers=headers)
    assert deleted.status_code == 204
    after = stack.training.get(f"{url}/{kept['id']}", headers=headers).json()
    assert (after["enabled"], after["next_fire_at"]) == (False, None)


def test_the_ticker_fires_a_missed_tick_once_claims_atomically_and_skips_while_a_run_is_open(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    model = create_model(stack.training, headers, ingest_retail(stack.catalog, headers))
    schedule = _create(stack, headers, model_id=model["id"], cron="0 * * * *")
    ticker, rival = _ticker(stack), _ticker(stack)
    assert ticker.tick() == {}  # the first tick is in the future

    # Down for three hours: four ticks passed, one run is owed.
    _overdue(stack, schedule["id"], hours=3.5)
    assert ticker.tick() == {"fired": 1}
    assert ticker.tick() == {}
    after = stack.training.get(f"/training/v1/schedules/{schedule['id']}", headers=headers).json()
    assert after["fired"] == 1
    assert after["next_fire_at"] > utcnow().isoformat()
    runs = stack.training.get(
        f"/training/v1/schedules/{schedule['id']}/runs", headers=headers
    ).json()["items"]
    assert [(run["trigger"], run["schedule_id"], run["state"]) for run in runs] == [
        ("schedule", schedule["id"], "queued")
    ]
    assert after["last_run_id"] == runs[0]["id"]

    # The previous run is still queued: the next tick is skipped, and the reason recorded.
    _overdue(stack, schedule["id"], hours=0.1)
    assert ticker.tick() == {"skipped": 1}
    skipped = stack.training.get(f"/training/v1/schedules/{schedule['id']}", headers=headers).json()
    assert skipped["skipped"] == 1
    assert f"previous run {runs[0]['id']}" in skipped["last_skip"]["reason"]
    assert "still queued" in skipped["last_skip"]["reason"]

    # Two tickers see the same due tick: only the first claim starts a run.
    database = _database(stack)
    with database.system_session() as session:
        run = session.get(TrainingRun, uuid.UUID(runs[0]["id"]))
        assert run is not None
        run.state = "succeeded"
    _overdue(stack, schedule["id"], hours=0.1)
    now = utcnow()
    plans: list[Plan] = []
    for each in (ticker, rival):
        with database.system_session() as session:
            plan = each._plan(session, _schedule_id(database), now)
            assert isinstance(plan, Plan)
            plans.append(plan)
    snapshot = [{"batch_id": "b", "name": "f", "uri": "file:///x", "rows": 1}]
    assert ticker._fire(plans[0], now, snapshot) == "fired"
    assert rival._fire(plans[1], now, snapshot) == "lost"
    with database.system_session() as session:
        assert len(session.scalars(select(TrainingRun)).all()) == 2
        types = [
            str(event.envelope["type"])
            for event in session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.key == schedule["id"])
                .order_by(OutboxEvent.id)
            )
        ]
    assert types == [
        "dsw.training.schedule.fired",
        "dsw.training.schedule.skipped",
        "dsw.training.schedule.fired",
    ]

    # Disabled: due or not, nothing fires.
    stack.training.post(f"/training/v1/schedules/{schedule['id']}/disable", headers=headers)
    _overdue(stack, schedule["id"], hours=1)
    assert ticker.tick() == {}


def _schedule_id(database: Database) -> Any:
    with database.system_session() as session:
        return session.scalars(select(TrainingSchedule.id)).one()


def test_new_data_in_the_catalog_retrains_through_the_broker(stack: Stack, auth: Auth) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    schedule = _create(stack, headers, model_id=model["id"], on_new_data=True)
    assert schedule["next_fire_at"] is None
    batch_id = add_batch(stack.catalog, headers, dataset_id)

    # catalog outbox -> Tansu -> training's catalog consumer -> pending -> ticker -> worker.
    runs_url = f"/training/v1/schedules/{schedule['id']}/runs"
    deadline = time.monotonic() + 90
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not runs:
        runs = stack.training.get(runs_url, headers=headers).json()["items"]
        time.sleep(0.2)
    assert len(runs) == 1, "no run was started for the new batch"
    run = wait_run(stack.training, headers, runs[0]["id"])
    assert run["state"] == "succeeded", (run["error"], run["log_tail"])
    assert run["trigger"] == "new_data"
    assert batch_id in run["snapshot"]["batch_ids"]
    assert len(run["snapshot"]["batch_ids"]) == 2
    after = stack.training.get(f"/training/v1/schedules/{schedule['id']}", headers=headers).json()
    assert (after["fired"], after["pending_data_since"]) == (1, None)
