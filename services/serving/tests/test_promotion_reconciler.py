"""Automatic promotion does not depend on training's ``run.succeeded`` event being delivered.

A broker that keeps its messages in memory (the embedded Tansu) loses the ones it held when it
restarts; a run whose event was among them must still be judged. Here serving's consumer is
stopped while a run succeeds (its event is never consumed), and the reconciler judges the run
from the training API, once, and the consumer would not judge it again.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from dsw_kit.app import ServiceRuntime
from dsw_kit.db import Tenant
from dsw_kit.events import CloudEvent, new_event
from dsw_serving.models import Decision
from dsw_serving.publishing.promotion import apply_training_event
from dsw_serving.publishing.promotion_reconciler import PromotionReconciler

from .conftest import World
from .helpers import wait_for

SERVICES = "/serving/v1/services"
TENANT = Tenant("org-a", "prod")


def _decisions(runtime: ServiceRuntime) -> list[tuple[str, str]]:
    with runtime.database.system_session() as session:
        rows = session.execute(select(Decision.training_run_id, Decision.action))
        return [(str(run_id), str(action)) for run_id, action in rows]


def _event_of(run: dict[str, Any]) -> CloudEvent:
    """The ``run.succeeded`` event that was lost, arriving late."""
    mlflow = run["mlflow"]
    return new_event(
        service="training",
        event_type="dsw.training.run.succeeded",
        tenant=TENANT,
        subject=run["id"],
        data={
            "run_id": run["id"],
            "model_id": run["model_id"],
            "state": "succeeded",
            "metrics": run["metrics"],
            "registered_model": mlflow["registered_model"],
            "model_version": mlflow["model_version"],
            "model_uri": mlflow["model_uri"],
        },
    )


def _train(world: World, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """A succeeded training run of the world's model (waiting as long as a busy machine needs)."""
    url = f"/training/v1/models/{world.model_id}/runs"
    created = world.training.post(
        url, json={"hyperparameters": hyperparameters}, headers=world.headers()
    )
    assert created.status_code == 202, created.text

    def finished() -> dict[str, Any] | None:
        run = world.training.get(
            f"/training/v1/runs/{created.json()['id']}", headers=world.headers()
        )
        body = dict(run.json())
        return body if body["state"] in ("succeeded", "failed", "cancelled") else None

    run = wait_for(finished, "the training run", timeout=600)
    assert run["state"] == "succeeded", run
    return dict(run)


# The module's platform trains a model first: minutes on a busy shared machine.
@pytest.mark.timeout(1200)
def test_a_run_whose_event_was_lost_is_judged_by_the_reconciler_once(world: World) -> None:
    runtime: ServiceRuntime = world.serving.app.state.runtime  # type: ignore[attr-defined]
    promotion = {"metric": "rmse", "direction": "min"}
    source = {"model_id": world.model_id, "policy": "latest"}
    body = {"name": "reconciled", "source": source, "promotion": promotion}
    created = world.serving.post(SERVICES, json=body, headers=world.headers())
    assert created.status_code == 201, created.text
    # Serving hears nothing from now on: the consumer (and its reconciler thread) is stopped.
    for component in runtime.background:
        component.stop(10.0)

    run = _train(world, {"n_estimators": 30})
    assert _decisions(runtime) == []

    reconciler = PromotionReconciler(runtime)
    assert reconciler.reconcile_once() == 1
    [(run_id, action)] = _decisions(runtime)
    assert run_id == run["id"]
    assert action in ("promoted", "kept")
    revisions = world.serving.get(f"{SERVICES}/reconciled/revisions", headers=world.headers())
    by_number = {r["number"]: r["training_run_id"] for r in revisions.json()}
    assert by_number == {1: world.run["id"], 2: run["id"]}

    # Judged once: neither another pass nor the late event judge it again; the run the
    # service was published from (older than the service) is not judged at all.
    assert reconciler.reconcile_once() == 0
    with runtime.database.session(TENANT) as session:
        apply_training_event(runtime, session, _event_of(run))
    with runtime.database.system_session() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 1
