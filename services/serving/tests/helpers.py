"""Small factories for serving tests: the retail sample in the real catalog, trained models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dsw_recipe import get_recipe
from dsw_recipe.datasets import luma_interactions_path, retail_training_path
from fastapi.testclient import TestClient

from dsw_kit.testing.samples import RETAIL_SCHEMA

RETAIL_CSV = Path(retail_training_path())
LUMA_SCHEMA: dict[str, Any] = {
    "title": "Luma interactions",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "luma",
    "tenantFields": {
        "properties": {
            "userId": {"type": "string"},
            "itemId": {"type": "string"},
            "interactionType": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
        },
        "required": ["userId", "timestamp"],
    },
}
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
    catalog: TestClient,
    headers: dict[str, str],
    dataset_id: str,
    content: bytes,
    formats: dict[str, str] | None = None,
) -> str:
    """One successful CSV batch (default: of the retail shape) in ``dataset_id``; its id."""
    batch = catalog.post(
        f"/catalog/v1/datasets/{dataset_id}/batches",
        json={
            "format": "csv",
            "formats": {"_retail.date": "%m/%d/%y"} if formats is None else formats,
        },
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


def ingest_luma(catalog: TestClient, headers: dict[str, str]) -> str:
    """A catalog dataset of the Luma interactions sample; its id.

    The sample's header names ``timestamp`` twice (both columns agree): the copy is left out,
    and times are written as RFC 3339 (a strptime format with seconds does not round-trip
    through the catalog's millisecond check).
    """
    header, *rows = Path(luma_interactions_path()).read_text(encoding="utf-8").splitlines()
    lines = [header.rsplit(",", 1)[0]]
    for row in rows:
        moment, rest = row.rsplit(",", 1)[0].split(",", 1)
        lines.append(f"{moment.replace(' ', 'T')}Z,{rest}")
    dataset_id = create_dataset(catalog, headers, "luma", LUMA_SCHEMA)
    ingest_csv(catalog, headers, dataset_id, "\n".join(lines).encode() + b"\n", {})
    return dataset_id


def retail_rows(count: int | None = None) -> bytes:
    """The retail CSV, cut to its header and first ``count`` rows."""
    lines = RETAIL_CSV.read_bytes().splitlines(keepends=True)
    return b"".join(lines if count is None else lines[: count + 1])


def create_model(
    training: TestClient,
    headers: dict[str, str],
    dataset_id: str,
    recipe: str = "retail-sales",
    name: str = "retail-forecast",
) -> str:
    """A training model of ``recipe`` (default: the retail forecast) on the dataset; its id."""
    model = training.post(
        "/training/v1/models",
        json={
            "name": name,
            "recipe": {"recipe_id": recipe, "version_id": get_recipe(recipe).version},
            "hyperparameters": FAST,
            "dataset_id": dataset_id,
        },
        headers=headers,
    )
    assert model.status_code == 201, model.text
    return str(model.json()["id"])


def train(
    training: TestClient,
    headers: dict[str, str],
    model_id: str,
    hyperparameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A real training run of the model; the succeeded run."""
    run = training.post(
        f"/training/v1/models/{model_id}/runs",
        json={"hyperparameters": hyperparameters or {}},
        headers=headers,
    )
    assert run.status_code == 202, run.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = dict(training.get(f"/training/v1/runs/{run.json()['id']}", headers=headers).json())
        if state["state"] in FINAL:
            assert state["state"] == "succeeded", state
            return state
        time.sleep(0.2)
    raise AssertionError("training did not finish in time")


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``check()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def retail_records(count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows of the retail sample as predict records (inputs only)."""
    import csv
    from datetime import datetime

    rows = []
    with RETAIL_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if len(rows) == count:
                break
            rows.append(
                {
                    "date": datetime.strptime(row["date"], "%m/%d/%y").date().isoformat(),
                    "store": int(row["store"]),
                    "storeType": row["storeType"],
                    "storeSize": int(row["storeSize"]),
                    "temperature": float(row["temperature"]),
                    "regionalFuelPrice": float(row["regionalFuelPrice"]),
                    "markdown": float(row["markDown"] or 0),
                    "cpi": float(row["cpi"]),
                    "unemployment": float(row["unemployment"]),
                    "isHoliday": row["isHoliday"].lower() in ("true", "1"),
                    "_actual": float(row["weeklySales"]),
                }
            )
    return rows
