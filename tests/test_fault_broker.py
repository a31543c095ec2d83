"""Broker outage: the broker dies for 30 s while data is ingested, models train and a service
serves; it comes back empty (Tansu keeps everything in memory). The platform must become whole.

Real processes throughout: Tansu, the catalog, recipes, training and serving APIs (each with its
embedded workers), serving's promotion consumer and invocation store as their own worker
processes, MLflow in the data home, SQLite or PostgreSQL (DSW_TEST_POSTGRES_URL).

The restarted broker has lost every message it held, including a ``run.succeeded`` event that
reached it but that serving had not consumed yet (serving's promotion worker is suspended while
the run finishes). Nothing may depend on that message: outboxes resend what was not delivered,
workers poll their own state, and serving's promotion reconciler finds the run it never heard of.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import ColumnElement, Engine, Table, create_engine, func, select

from dsw.demo import demo_records
from dsw_catalog.models import OutboxEvent as CatalogOutbox
from dsw_contracts import ALL_TOPICS
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.events import OutboxMixin, ensure_topics
from dsw_kit.testing.plugin import TokenFactory
from dsw_recipes.models import OutboxEvent as RecipesOutbox
from dsw_serving.models import Invocation
from dsw_serving.models import OutboxEvent as ServingOutbox
from dsw_training.models import OutboxEvent as TrainingOutbox
from tests.conftest import DatabaseFactory
from tests.support.stack import ProcessStack, poll
from tests.test_sdk import CSV_DATES, FAST, RETAIL, RETAIL_SCHEMA

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 30
FIRST_BATCH_ROWS = 3000
BETTER = {"n_estimators": 60, "num_leaves": 15, "num_threads": 1}
OUTBOXES: dict[str, type[OutboxMixin]] = {
    "catalog": CatalogOutbox,
    "recipes": RecipesOutbox,
    "training": TrainingOutbox,
    "serving": ServingOutbox,
}
APIS = ["catalog", "recipes", "training", "serving"]


class Api:
    """Calls to the platform's APIs as one user, failing the test on an unexpected status."""

    def __init__(self, stack: ProcessStack, token: str) -> None:
        self.stack = stack
        # Generous: a shared CI machine can be slow; a timeout here is not what is tested.
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120)

    def call(self, method: str, service: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, self.stack.url(service) + path, **kw)
        assert response.status_code == expect, (method, path, response.text)
        return response.json()

    def ingest(self, dataset_id: str, content: bytes) -> str:
        """Upload and complete a CSV batch (not waiting for it); the batch id."""
        batch = self.call(
            "POST",
            "catalog",
            f"/catalog/v1/datasets/{dataset_id}/batches",
            201,
            json={"format": "csv", "formats": CSV_DATES},
        )
        path = f"/catalog/v1/batches/{batch['id']}"
        self.call("PUT", "catalog", f"{path}/files/retail.csv", content=content)
        self.call("POST", "catalog", f"{path}/complete", 202)
        return str(batch["id"])

    def batch(self, batch_id: str) -> dict[str, Any]:
        return dict(self.call("GET", "catalog", f"/catalog/v1/batches/{batch_id}"))

    def request_run(self, model_id: str, hyperparameters: dict[str, Any]) -> str:
        body = {"hyperparameters": hyperparameters}
        run = self.call("POST", "training", f"/training/v1/models/{model_id}/runs", 202, json=body)
        return str(run["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", "training", f"/training/v1/runs/{run_id}"))

    def decisions(self, name: str) -> list[dict[str, Any]]:
        return list(self.call("GET", "serving", f"/serving/v1/services/{name}/decisions"))


def wait_batch(api: Api, batch_id: str) -> dict[str, Any]:
    batch = poll(
        lambda: (b := api.batch(batch_id))["status"] in ("success", "partial", "failed") and b,
        f"batch {batch_id} to finish",
    )
    assert isinstance(batch, dict)
    assert batch["status"] == "success", batch
    return batch


def wait_run(api: Api, run_id: str, timeout: float = 300) -> dict[str, Any]:
    final = ("succeeded", "failed", "cancelled")
    run = poll(
        lambda: (r := api.run(run_id))["state"] in final and r, f"run {run_id}", timeout=timeout
    )
    assert isinstance(run, dict)
    assert run["state"] == "succeeded", (run["error"], run["log_tail"][-5:])
    return run


class Predictions:
    """An application calling the service in a loop with an API key, all along the test."""

    def __init__(self, url: str, key: str) -> None:
        record = {k: v for k, v in demo_records(1)[0].items() if k != "weeklySales"}
        self.url, self.body = url, {"records": [record]}
        self.headers = {"x-api-key": key}
        self.answers: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Predictions:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.wait(0.05):
                try:
                    response = client.post(self.url, json=self.body, headers=self.headers)
                    request_id = response.json().get("request_id")
                    self.answers.append((time.monotonic(), response.status_code, request_id))
                except httpx.HTTPError as error:
                    self.answers.append((time.monotonic(), 0, type(error).__name__))

    def between(self, start: float, end: float) -> list[tuple[float, int, str | None]]:
        return [answer for answer in list(self.answers) if start <= answer[0] <= end]


def reader(url: str) -> Engine:
    """An engine for the test's own reads: plain transactions, which on SQLite neither take
    the write lock (as the services' sessions do) nor wait for it."""
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def count(engine: Engine, table: Table, *conditions: ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*conditions)
        return int(connection.scalar(query) or 0)


def unsent(engine: Engine, outbox: type[OutboxMixin]) -> int:
    table = outbox.__table__  # type: ignore[attr-defined]
    return count(engine, table, table.c.sent_at.is_(None))


def all_sent(engines: dict[str, Engine]) -> bool:
    return all(unsent(engines[name], outbox) == 0 for name, outbox in OUTBOXES.items())


def sent_of_type(engine: Engine, outbox: type[OutboxMixin], event_type: str) -> int:
    """How many events of ``event_type`` the outbox holds (each row is one distinct event)."""
    table = outbox.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.scalars(select(table.c.envelope).where(table.c.sent_at.is_not(None)))
        return sum(1 for envelope in rows if envelope.get("type") == event_type)


def stored_invocations(engine: Engine, request_id: str | None) -> int:
    table = Invocation.__table__
    return count(engine, table, table.c.request_id == request_id)  # type: ignore[arg-type]


def registered_versions(home: Path, registered_model: str) -> list[int]:
    """The versions of a registered model in the platform's MLflow store."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation warnings are not ours
        from mlflow import MlflowClient

        tracking = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        versions = tracking.search_model_versions(f"name='{registered_model}'")
    return [int(version.version) for version in versions]


def invocation_counters(metrics: str) -> tuple[float, float]:
    """(logged, dropped) from serving's Prometheus text."""
    logged = dropped = 0.0
    for line in metrics.splitlines():
        if line.startswith("dsw_serving_invocations_logged_total"):
            logged += float(line.rsplit(" ", 1)[1])
        elif line.startswith("dsw_serving_invocations_dropped_total{"):
            dropped += float(line.rsplit(" ", 1)[1])
    return logged, dropped


@pytest.fixture
def platform(
    tmp_path: Path, dsw_home: Path, new_database: DatabaseFactory
) -> Iterator[tuple[ProcessStack, TansuBroker]]:
    broker = TansuBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    ensure_topics(broker.bootstrap, dict.fromkeys(ALL_TOPICS, 4))  # what `dsw up` does
    stack = ProcessStack(
        home=dsw_home,
        bootstrap=broker.bootstrap,
        logs=tmp_path / "logs",
        databases={service: new_database(service) for service in APIS},
        settings={
            "DSW_CATALOG_INGEST_POLL_SECONDS": "0.5",
            "DSW_RECIPES_SMOKE_BUILTINS": "false",
            "DSW_TRAINING_RUN_POLL_SECONDS": "0.5",
            "DSW_TRAINING_PROGRESS_WRITE_SECONDS": "0.5",
            "DSW_SERVING_STATE_POLL_SECONDS": "0.5",
            "DSW_SERVING_PROMOTION_RECONCILE_SECONDS": "2",
            # Serving's consumers run as their own processes, so one can be suspended.
            "DSW_SERVING_EMBEDDED_WORKERS": "false",
        },
    )
    try:
        for service in APIS:
            stack.start_api(service)
        stack.wait_ready(APIS)
        for worker in ("training-events", "invocations"):
            stack.start(f"serving-{worker}", "serving", ["worker", worker])
        yield stack, broker
    finally:
        stack.stop()
        broker.stop()


# Three real training runs and a 30 s outage on a shared two-core machine.
@pytest.mark.timeout(1800)
def test_a_broker_outage_loses_nothing_and_the_platform_becomes_whole(
    platform: tuple[ProcessStack, TansuBroker], issue_token: TokenFactory
) -> None:
    stack, broker = platform
    api = Api(stack, issue_token())
    databases = {name: reader(stack.databases[name]) for name in OUTBOXES}
    lines = RETAIL.read_bytes().splitlines(keepends=True)
    first, second = lines[: FIRST_BATCH_ROWS + 1], [lines[0], *lines[FIRST_BATCH_ROWS + 1 :]]

    # Before: a dataset with one batch, a model with one run, a service following the model.
    schema = api.call("POST", "catalog", "/catalog/v1/schemas", 201, json=RETAIL_SCHEMA)
    dataset = api.call(
        "POST",
        "catalog",
        "/catalog/v1/datasets",
        201,
        json={"name": "retail", "schema_id": schema["id"]},
    )
    dataset_id = dataset["id"]
    wait_batch(api, api.ingest(dataset_id, b"".join(first)))
    model = api.call(
        "POST",
        "training",
        "/training/v1/models",
        201,
        json={
            "name": "retail-forecast",
            "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
            "hyperparameters": FAST,
            "dataset_id": dataset_id,
        },
    )
    run_1 = wait_run(api, api.request_run(model["id"], {}))
    source = {"model_id": model["id"], "policy": "latest"}
    promotion = {"metric": "rmse", "direction": "min"}
    api.call(
        "POST",
        "serving",
        "/serving/v1/services",
        201,
        json={"name": "sales", "source": source, "promotion": promotion},
    )
    key = api.call("POST", "serving", "/serving/v1/services/sales/keys", 201, json={"name": "app"})
    activity_url = f"/training/v1/datasets/{dataset_id}/activity"
    poll(
        lambda: api.call("GET", "training", activity_url)["batches_succeeded"] == 1,
        "training to hear of the first batch",
    )

    predict_url = f"{stack.url('serving')}/serving/v1/services/sales/predict"
    with Predictions(predict_url, key["key"]) as predictions:
        poll(lambda: any(code == 200 for _, code, _ in predictions.answers), "a prediction")

        # A run succeeds while serving's promotion consumer is suspended: its event reaches
        # the broker (the outbox marks it sent) and is never consumed there.
        stack.freeze("serving-training-events")
        run_2_id = api.request_run(model["id"], BETTER)
        run_2 = wait_run(api, run_2_id)
        poll(lambda: unsent(databases["training"], TrainingOutbox) == 0, "run 2's events sent")

        assert broker.process is not None
        broker.process.kill()
        broker.process.wait()
        outage_started = time.monotonic()

        # During the outage: reads and writes are answered, work goes on.
        ready = httpx.get(f"{stack.url('catalog')}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] == "unavailable"
        batch_2 = wait_batch(api, api.ingest(dataset_id, b"".join(second)))
        run_3_id = api.request_run(model["id"], BETTER)
        answered = [a for a in predictions.between(outage_started, time.monotonic()) if a[2]]
        feedback = {
            "items": [
                {"request_id": request_id, "actual": 20000.0} for _, _, request_id in answered
            ]
        }
        accepted = api.call("POST", "serving", "/serving/v1/services/sales/feedback", json=feedback)
        assert accepted == {"accepted": len(answered)}
        stack.thaw("serving-training-events")
        assert unsent(databases["catalog"], CatalogOutbox) > 0  # the batch's events wait
        time.sleep(max(0.0, outage_started + OUTAGE_SECONDS - time.monotonic()))
        outage_ended = time.monotonic()
        during = predictions.between(outage_started, outage_ended)

        # The broker comes back empty, on the same address.
        broker.start()

        run_3 = wait_run(api, run_3_id)
        poll(lambda: all_sent(databases), "every outbox sent")
        poll(
            lambda: api.call("GET", "training", activity_url)["batches_succeeded"] == 2,
            "training to hear of the second batch",
        )
        poll(lambda: len(api.decisions("sales")) >= 2, "decisions on runs 2 and 3")
        after_restart = time.monotonic()
        poll(lambda: predictions.between(after_restart, time.monotonic()), "predictions after")
    served = list(predictions.answers)

    # Predictions were answered all along, during the outage too.
    assert during
    assert {code for _, code, _ in served} == {200}

    # The invocation log never blocked: every prediction was logged or dropped (counted).
    def counters() -> tuple[float, float]:
        return invocation_counters(httpx.get(f"{stack.url('serving')}/metrics").text)

    poll(lambda: sum(counters()) == len(served), "every invocation logged or dropped")
    logged, dropped = counters()
    assert logged > 0
    assert dropped > 0  # during the outage
    # ... and reconnected: the invocations of the last requests reach the store again.
    poll(lambda: stored_invocations(databases["serving"], served[-1][2]) == 1, "stored")

    # Every run completed, each registered exactly one model version.
    runs = api.call("GET", "training", f"/training/v1/models/{model['id']}/runs")["items"]
    assert sorted(run["id"] for run in runs) == sorted([run_1["id"], run_2["id"], run_3["id"]])
    assert {run["state"] for run in runs} == {"succeeded"}
    registered = run_1["mlflow"]["registered_model"]
    assert sorted(registered_versions(stack.home, registered)) == [1, 2, 3]
    assert sorted(int(run["mlflow"]["model_version"]) for run in runs) == [1, 2, 3]

    # The data: both batches, every row.
    shown = api.call("GET", "catalog", f"/catalog/v1/datasets/{dataset_id}")
    assert batch_2["rows_written"] == len(second) - 1
    assert shown["batch_count"] == 2
    assert shown["row_count"] == len(lines) - 1

    # Automatic promotion judged both runs once, the one whose event the broker lost included.
    decisions = api.decisions("sales")
    assert sorted(d["training_run_id"] for d in decisions) == sorted([run_2_id, run_3_id])
    promotion_log = stack.processes["serving-training-events"].output()
    assert f"judged run {run_2_id}" in promotion_log  # by the reconciler: its event was lost
    revisions = api.call("GET", "serving", "/serving/v1/services/sales/revisions")
    assert sorted(r["training_run_id"] for r in revisions) == sorted(
        [run_1["id"], run_2_id, run_3_id]
    )

    # Every event delivered; exactly the events the work made, none twice.
    assert sent_of_type(databases["catalog"], CatalogOutbox, "dsw.catalog.batch.succeeded") == 2
    assert sent_of_type(databases["training"], TrainingOutbox, "dsw.training.run.succeeded") == 3
    assert sent_of_type(databases["serving"], ServingOutbox, "dsw.serving.decision.made") == 2
    for engine in databases.values():
        engine.dispose()
