"""Scoring runs end to end: ingest -> train -> score -> the output dataset in the catalog."""

from __future__ import annotations

import pyarrow as pa

from dsw_kit.lake import open_files

from .conftest import World
from .helpers import wait_run


def _files(world: World, dataset_id: str) -> list[dict[str, object]]:
    response = world.catalog.get(
        f"/catalog/v1/datasets/{dataset_id}/files", headers=world.headers()
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def test_a_training_run_scores_a_dataset_into_a_new_dataset(world: World) -> None:
    headers = world.headers()
    body = {
        "model": {"training_run_id": world.training_run["id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": "retail-predictions"},
    }
    created = world.scoring.post(
        "/scoring/v1/runs", json=body, headers={**headers, "Idempotency-Key": "first"}
    )
    assert created.status_code == 202, created.text
    run = created.json()
    assert run["state"] == "queued"
    assert run["output_dataset_created"]
    done = wait_run(world.scoring, headers, run["id"])
    assert done["state"] == "succeeded", done
    source_rows = sum(int(f["rows"]) for f in _files(world, world.dataset_id))  # type: ignore[call-overload]
    assert done["progress"]["rows_scored"] == source_rows > 0
    files = _files(world, run["output_dataset_id"])
    assert {f["batch_id"] for f in files} == {done["output_batch_id"]}
    table = open_files([str(f["uri"]) for f in files]).to_table()
    assert table.num_rows == source_rows
    flat = table.flatten()
    assert set(flat.column_names) >= {"_scoring.date", "_scoring.store", "_scoring.prediction"}
    predictions = flat["_scoring.prediction"]
    assert predictions.null_count == 0
    assert pa.compute.min(predictions).as_py() > 0

    again = world.scoring.post(
        "/scoring/v1/runs", json=body, headers={**headers, "Idempotency-Key": "first"}
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == run["id"]
    logs = world.scoring.get(f"/scoring/v1/runs/{run['id']}/logs", headers=headers).json()
    assert any("succeeded" in line for line in logs["lines"]), logs
