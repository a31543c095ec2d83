"""Small factories for training tests: a retail dataset in the real catalog, models, runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dsw_recipe.datasets import retail_training_path
from fastapi.testclient import TestClient

from dsw_kit.testing.samples import RETAIL_SCHEMA

RETAIL_CSV = Path(retail_training_path())
FINAL = {"succeeded", "failed", "cancelled"}
# Small and fast: a handful of boosting rounds is enough to exercise the whole path.
FAST = {"n_estimators": 15, "num_leaves": 8, "num_threads": 1}


def ingest_retail(catalog: TestClient, headers: dict[str, str], name: str = "retail") -> str:
    """A catalog dataset holding the retail sample (one successful batch); its id."""
    schema = catalog.post("/catalog/v1/schemas", json=RETAIL_SCHEMA, headers=headers)
    assert schema.status_code == 201, schema.text
    dataset = catalog.post(
        "/catalog/v1/datasets",
        json={"name": name, "schema_id": schema.json()["id"]},
        headers=headers,
    )
    assert dataset.status_code == 201, dataset.text
    dataset_id = str(dataset.json()["id"])
    add_batch(catalog, headers, dataset_id)
    return dataset_id


def add_batch(catalog: TestClient, headers: dict[str, str], dataset_id: str) -> str:
    """Ingest the retail sample as one more batch of the dataset; the batch id."""
    batch = catalog.post(
        f"/catalog/v1/datasets/{dataset_id}/batches",
        json={"format": "csv", "formats": {"_retail.date": "%m/%d/%y"}},
        headers=headers,
    )
    assert batch.status_code == 201, batch.text
    batch_id = str(batch.json()["id"])
    uploaded = catalog.put(
        f"/catalog/v1/batches/{batch_id}/files/retail.csv",
        content=RETAIL_CSV.read_bytes(),
        headers=headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    assert (
        catalog.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers).status_code == 202
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = catalog.get(f"/catalog/v1/batches/{batch_id}", headers=headers).json()["status"]
        if status in ("success", "failed", "partial"):
            assert status == "success"
            return batch_id
        time.sleep(0.1)
    raise AssertionError("the retail batch was not ingested in time")


def create_model(
    client: TestClient,
    headers: dict[str, str],
    dataset_id: str,
    *,
    name: str = "retail-forecast",
    hyperparameters: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "name": name,
        "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
        "hyperparameters": FAST if hyperparameters is None else hyperparameters,
        "dataset_id": dataset_id,
        **fields,
    }
    response = client.post("/training/v1/models", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def request_run(
    client: TestClient, headers: dict[str, str], model_id: str, **body: Any
) -> dict[str, Any]:
    response = client.post(f"/training/v1/models/{model_id}/runs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def wait_run(
    client: TestClient,
    headers: dict[str, str],
    run_id: str,
    states: set[str] | None = None,
    timeout: float = 90.0,
    condition: Any = None,
) -> dict[str, Any]:
    """Wait until the run is in one of ``states`` (default: a final state)."""
    wanted = states or FINAL
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = client.get(f"/training/v1/runs/{run_id}", headers=headers).json()
        if run["state"] in wanted and (condition is None or condition(run)):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {wanted}: {run}")
