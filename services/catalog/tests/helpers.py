"""Small factories for catalog tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dsw_kit.testing.samples import RETAIL_FORMATS, RETAIL_SCHEMA

DATA = Path(__file__).parent / "data"
RETAIL_CSV = DATA / "retail-training.csv"

FINAL = {"success", "partial", "failed", "aborted"}


def create_schema(
    client: TestClient, headers: dict[str, str], document: dict[str, Any] | None = None
) -> str:
    response = client.post("/catalog/v1/schemas", json=document or RETAIL_SCHEMA, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_dataset(
    client: TestClient, headers: dict[str, str], name: str = "retail", **settings: Any
) -> str:
    schema_id = settings.pop("schema_id", None) or create_schema(client, headers)
    response = client.post(
        "/catalog/v1/datasets",
        json={"name": name, "schema_id": schema_id, **settings},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_batch(
    client: TestClient, headers: dict[str, str], dataset_id: str, **options: Any
) -> str:
    body = {"format": "csv", "formats": RETAIL_FORMATS, **options}
    response = client.post(f"/catalog/v1/datasets/{dataset_id}/batches", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def upload(
    client: TestClient, headers: dict[str, str], batch_id: str, name: str, content: bytes
) -> Any:
    return client.put(
        f"/catalog/v1/batches/{batch_id}/files/{name}", content=content, headers=headers
    )


def complete_and_wait(
    client: TestClient, headers: dict[str, str], batch_id: str, timeout: float = 60.0
) -> dict[str, Any]:
    response = client.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers)
    assert response.status_code == 202, response.text
    return wait_final(client, headers, batch_id, timeout)


def wait_final(
    client: TestClient, headers: dict[str, str], batch_id: str, timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.get(f"/catalog/v1/batches/{batch_id}", headers=headers).json()
        if batch["status"] in FINAL:
            return dict(batch)
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} did not finish: {batch}")


def ingest(
    client: TestClient,
    headers: dict[str, str],
    dataset_id: str,
    files: dict[str, bytes],
    **options: Any,
) -> dict[str, Any]:
    batch_id = create_batch(client, headers, dataset_id, **options)
    for name, content in files.items():
        response = upload(client, headers, batch_id, name, content)
        assert response.status_code == 200, response.text
    return complete_and_wait(client, headers, batch_id)
