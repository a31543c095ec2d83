"""Training runs through the API: queued -> running -> succeeded in MLflow, failed, cancelled."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import select

from dsw_training.models import OutboxEvent
from dsw_training.settings import TrainingSettings

from .conftest import Stack
from .helpers import create_model, ingest_retail, request_run, wait_run

Auth = Callable[..., dict[str, str]]

# MLflow's SQLAlchemy store uses a loader SQLAlchemy deprecated (read here through MlflowClient).
pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")


def _event_types(stack: Stack, run_id: str) -> list[str]:
    database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.key == run_id).order_by(OutboxEvent.id)
        ).all()
        return [str(event.envelope["type"]) for event in events]


def test_the_retail_recipe_trains_into_mlflow_with_a_registered_version(
    stack: Stack, auth: Auth, training_settings: TrainingSettings
) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    queued = request_run(stack.training, headers, model["id"], hyperparameters={"num_leaves": 12})
    assert queued["state"] == "queued"
    assert queued["params"]["num_leaves"] == 12
    assert queued["params"]["n_estimators"] == 15
    assert len(queued["snapshot"]["batch_ids"]) == 1

    run = wait_run(stack.training, headers, queued["id"])
    assert run["state"] == "succeeded", (run["error"], run["log_tail"])
    assert {"mape", "rmse", "mae"} <= set(run["metrics"])
    assert 0 < run["metrics"]["mape"] < 0.5
    # The recipe's baseline on the same split, and the booster's gain per feature, largest first.
    assert {"mape", "rmse"} <= set(run["baseline_metrics"])
    gains = list(run["feature_importance"].values())
    assert gains == sorted(gains, reverse=True)
    assert gains[0] > 0
    assert run["progress"] == {"stage": "done", "percent": 100.0, "rows": run["progress"]["rows"]}
    assert run["attempts"] == 1
    mlflow = run["mlflow"]
    assert (
        mlflow["registered_model"] == model["registered_model_name"] == "org-a.prod.retail-forecast"
    )
    assert mlflow["model_version"] == "1"

    client = MlflowClient(tracking_uri=training_settings.platform.resolved_mlflow_tracking_uri)
    mlflow_run = client.get_run(mlflow["run_id"])
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["num_leaves"] == "12"
    assert mlflow_run.data.tags["dsw.dataset_id"] == dataset_id
    assert mlflow_run.data.tags["dsw.dataset.batch_ids"] == run["snapshot"]["batch_ids"][0]
    assert mlflow_run.data.metrics["mape"] == run["metrics"]["mape"]
    experiment = client.get_experiment(mlflow_run.info.experiment_id)
    assert experiment.name == model["experiment_name"]
    version = client.get_model_version(mlflow["registered_model"], "1")
    assert version.run_id == mlflow["run_id"]

    logs = stack.training.get(f"/training/v1/runs/{run['id']}/logs?tail=500", headers=headers)
    assert logs.status_code == 200
    assert any(
        "registered org-a.prod.retail-forecast version 1" in line for line in logs.json()["lines"]
    )

    types = _event_types(stack, run["id"])
    assert types[:2] == ["dsw.training.run.queued", "dsw.training.run.requested"]
    assert "dsw.training.run.started" in types
    assert "dsw.training.run.progress" in types
    assert types[-1] == "dsw.training.run.succeeded"

    # A second run registers version 2 under the same name, in the same experiment.
    second = wait_run(
        stack.training, headers, request_run(stack.training, headers, model["id"])["id"]
    )
    assert second["mlflow"]["model_version"] == "2"
    assert second["mlflow"]["experiment_id"] == run["mlflow"]["experiment_id"]

    # Compare: ordered by a metric, side by side, and as a chart.
    runs_url = f"/training/v1/models/{model['id']}/runs"
    by_rmse = stack.training.get(f"{runs_url}?orderby=metrics.rmse", headers=headers).json()
    values = [item["metrics"]["rmse"] for item in by_rmse["items"]]
    assert values == sorted(values)
    assert len(values) == 2
    worst_first = stack.training.get(f"{runs_url}?orderby=-metrics.rmse&limit=1", headers=headers)
    page = worst_first.json()
    assert page["items"][0]["metrics"]["rmse"] == max(values)
    following = stack.training.get(
        f"{runs_url}?orderby=-metrics.rmse&limit=1&cursor={page['next']}", headers=headers
    ).json()
    assert following["items"][0]["metrics"]["rmse"] == min(values)
    assert following["next"] is None
    compared = stack.training.get(
        f"/training/v1/models/{model['id']}/compare",
        params={"runs": f"{run['id']},{second['id']}", "metric": "rmse", "direction": "min"},
        headers=headers,
    ).json()
    assert compared["differing_params"] == ["num_leaves"]
    assert set(compared["metrics"]["rmse"]) == {run["id"], second["id"]}
    assert compared["best"]["value"] == min(values)
    assert all(item["baseline_metrics"]["rmse"] > 0 for item in compared["runs"])
    # Without a direction, the recipe's: lower for errors, higher for scores.
    for metric, direction in (("mape", "min"), ("ndcg_at_10", "max"), ("auc", "max")):
        default = stack.training.get(
            f"/training/v1/models/{model['id']}/compare",
            params={"runs": f"{run['id']},{second['id']}", "metric": metric},
            headers=headers,
        ).json()
        assert default["direction"] == direction, metric
    chart = stack.training.get(
        f"/training/v1/models/{model['id']}/chart.svg?metric=mape", headers=headers
    )
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.count("<rect") == 3  # background + one bar per run

    # Aliases: latest follows the newest run; champion is set by hand, in MLflow too.
    model_url = f"/training/v1/models/{model['id']}"
    shown = stack.training.get(model_url, headers=headers)
    latest = shown.json()["aliases"]["latest"]
    assert (latest["run_id"], latest["model_version"]) == (second["id"], "2")
    assert latest["alias_uri"] == "models:/org-a.prod.retail-forecast/latest"
    promoted = stack.training.post(
        f"{model_url}/aliases/champion",
        json={"run_id": run["id"]},
        headers={**headers, "If-Match": shown.headers["ETag"]},
    )
    assert promoted.status_code == 200, promoted.text
    champion = promoted.json()["aliases"]["champion"]
    assert (champion["run_id"], champion["model_version"]) == (run["id"], "1")
    assert champion["model_uri"] == "models:/org-a.prod.retail-forecast/1"
    assert (
        str(client.get_model_version_by_alias(mlflow["registered_model"], "champion").version)
        == "1"
    )
    reserved = stack.training.post(
        f"{model_url}/aliases/latest", json={"run_id": run["id"]}, headers=headers
    )
    assert reserved.status_code == 422
    assert reserved.json()["code"] == "invalid_alias"
    stale = stack.training.post(
        f"{model_url}/aliases/champion",
        json={"run_id": second["id"]},
        headers={**headers, "If-Match": shown.headers["ETag"]},
    )
    assert stale.status_code == 412
    assert "dsw.training.model.alias_set" in _event_types(stack, model["id"])

    # The succeeded event carries what serving needs to pick the version up.
    database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        succeeded = session.scalars(
            select(OutboxEvent).where(OutboxEvent.key == second["id"]).order_by(OutboxEvent.id)
        ).all()[-1]
        data = succeeded.envelope["data"]
    assert data["state"] == "succeeded"
    assert data["metrics"] == second["metrics"]
    assert (data["registered_model"], data["model_version"]) == (mlflow["registered_model"], "2")
    assert data["model_uri"] == second["mlflow"]["model_uri"]
    assert data["aliases"] == ["latest"]


def test_a_run_that_fails_shows_the_error_and_its_last_log_lines(stack: Stack, auth: Auth) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    # No row falls in this window: the recipe refuses to train on nothing.
    model = create_model(
        stack.training,
        headers,
        dataset_id,
        time_window={"start": "2030-01-01T00:00:00Z"},
    )
    run = wait_run(stack.training, headers, request_run(stack.training, headers, model["id"])["id"])
    assert run["state"] == "failed", run
    assert run["error"]
    assert "Error" in run["error"]
    assert run["log_tail"]
    assert any("Traceback" in line for line in run["log_tail"])
    assert run["attempts"] == 1  # a recipe error is final, not retried
    assert _event_types(stack, run["id"])[-1] == "dsw.training.run.failed"
    refused = stack.training.post(
        f"/training/v1/models/{model['id']}/aliases/champion",
        json={"run_id": run["id"]},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "run_not_registered"


def test_cancelling_a_running_run_kills_its_process(stack: Stack, auth: Auth) -> None:
    headers = auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(
        stack.training,
        headers,
        dataset_id,
        hyperparameters={"n_estimators": 10_000, "learning_rate": 0.001, "num_threads": 1},
    )
    run_id = request_run(stack.training, headers, model["id"])["id"]
    wait_run(
        stack.training,
        headers,
        run_id,
        {"running"},
        condition=lambda run: run["progress"]["stage"] == "train",
    )
    cancel = stack.training.post(f"/training/v1/runs/{run_id}/cancel", headers=headers)
    assert cancel.status_code == 202, cancel.text
    run = wait_run(stack.training, headers, run_id, timeout=30)
    assert run["state"] == "cancelled"
    assert _event_types(stack, run_id)[-1] == "dsw.training.run.cancelled"
    again = stack.training.post(f"/training/v1/runs/{run_id}/cancel", headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "run_finished"
