"""Small factories for scoring tests: the retail sample in the real catalog, a trained model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dsw_recipe.datasets import retail_training_path
from fastapi.testclient import TestClient

from dsw_kit.testing.samples import RETAIL_SCHEMA

RETAIL_CSV = Path(retail_training_path())
FINAL = {"succeeded", "failed", "cancelled"}
FAST = {"n_estimators": 15, "num_leaves": 8, "num_threads": 1}


def create_dataset(
    catalog: TestClient, headers: dict[str, str], name: str, schema: dict[str, Any]
) -> str:
    """An empty catalog dataset of a new schema; its id."""
    created = catalog.post("/catalog/v1/schemas", json=schema, headers=headers)
    assert created.status_code == 201, created.text
    dataset = catalog.post(
        "/catalog/v1/datasets",
        json={"name": name, "schema_id": created.json()["id"]},
        headers=headers,
    )
    assert dataset.status_code == 201, dataset.text
    return str(dataset.json()["id"])


def ingest_csv(
    catalog: TestClient, headers: dict[str, str], dataset_id: str, content: bytes
) -> str:
    """One successful CSV batch of the retail shape in ``dataset_id``; the batch id."""
    batch = catalog.post(
        f"/catalog/v1/datasets/{dataset_id}/batches",
        json={"format": "csv", "formats": {"_retail.date": "%m/%d/%y"}},
        headers=headers,
    )
    assert batch.status_code == 201, batch.text
    batch_id = str(batch.json()["id"])
    uploaded = catalog.put(
        f"/catalog/v1/batches/{batch_id}/files/retail.csv", content=content, headers=headers
    )
    assert uploaded.status_code == 200, uploaded.text
    done = catalog.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers)
    assert done.status_code == 202, done.text
    wait_batch(catalog, headers, batch_id)
    return batch_id


def wait_batch(catalog: TestClient, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = dict(catalog.get(f"/catalog/v1/batches/{batch_id}", headers=headers).json())
        if batch["status"] in ("success", "failed", "partial"):
            assert batch["status"] == "success", batch
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} was not ingested in time")


def ingest_retail(catalog: TestClient, headers: dict[str, str], name: str = "retail") -> str:
    """A catalog dataset holding the retail sample (one successful batch); its id."""
    dataset_id = create_dataset(catalog, headers, name, RETAIL_SCHEMA)
    ingest_csv(catalog, headers, dataset_id, RETAIL_CSV.read_bytes())
    return dataset_id


def retail_rows(count: int | None = None) -> bytes:
    """The retail CSV, cut to its header and first ``count`` rows."""
    lines = RETAIL_CSV.read_bytes().splitlines(keepends=True)
    return b"".join(lines if count is None else lines[: count + 1])


def train(training: TestClient, headers: dict[str, str], dataset_id: str) -> dict[str, Any]:
    """A retail model trained on the dataset (a real training run); the succeeded run."""
    model = training.post(
        "/training/v1/models",
        json={
            "name": "retail-forecast",
            "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
            "hyperparameters": FAST,
            "dataset_id": dataset_id,
        },
        headers=headers,
    )
    assert model.status_code == 201, model.text
    run = training.post(f"/training/v1/models/{model.json()['id']}/runs", json={}, headers=headers)
    assert run.status_code == 202, run.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = dict(training.get(f"/training/v1/runs/{run.json()['id']}", headers=headers).json())
        if state["state"] in FINAL:
            assert state["state"] == "succeeded", state
            return state
        time.sleep(0.2)
    raise AssertionError("training did not finish in time")


def wait_run(
    scoring: TestClient,
    headers: dict[str, str],
    run_id: str,
    states: set[str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Wait until the scoring run is in one of ``states`` (default: a final state)."""
    wanted = states or FINAL
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = dict(scoring.get(f"/scoring/v1/runs/{run_id}", headers=headers).json())
        if run["state"] in wanted:
            return run
        time.sleep(0.1)
    raise AssertionError(f"scoring run {run_id} did not reach {wanted}: {run}")
