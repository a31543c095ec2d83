"""Scoring runs end to end: ingest -> train -> score -> the output dataset in the catalog."""

from __future__ import annotations

import datetime
import json
import uuid

import pyarrow as pa

from dsw_kit.lake import open_files

from .conftest import World
from .helpers import RETAIL_SCHEMA, create_dataset, ingest_csv, retail_rows, wait_run


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


def _request(world: World, headers: dict[str, str], **body: object) -> dict[str, object]:
    payload = {
        "model": {"training_run_id": world.training_run["id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": "predictions"},
        **body,
    }
    response = world.scoring.post("/scoring/v1/runs", json=payload, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_a_model_alias_and_a_window_score_into_an_existing_dataset(world: World) -> None:
    headers = world.headers()
    first = _request(world, headers, output={"name": "weekly-predictions"})
    first = wait_run(world.scoring, headers, str(first["id"]))
    assert first["state"] == "succeeded", first
    model_id = world.training_run["model_id"]
    second = _request(
        world,
        headers,
        model={"model_id": model_id, "alias": "latest"},
        window={"start": "2012-01-01T00:00:00Z"},
        output={"dataset_id": first["output_dataset_id"]},
    )
    assert second["model"]["version"] == world.training_run["mlflow"]["model_version"]  # type: ignore[index]
    assert not second["output_dataset_created"]
    done = wait_run(world.scoring, headers, str(second["id"]))
    assert done["state"] == "succeeded", done
    scored, total = done["progress"]["rows_scored"], done["progress"]["rows_total"]
    assert 0 < scored < total
    batches = {str(f["batch_id"]) for f in _files(world, str(first["output_dataset_id"]))}
    assert batches == {first["output_batch_id"], done["output_batch_id"]}
    windowed = [
        str(f["uri"])
        for f in _files(world, str(first["output_dataset_id"]))
        if f["batch_id"] == done["output_batch_id"]
    ]
    dates = open_files(windowed).to_table().flatten()["_scoring.date"]
    assert dates.null_count == 0
    assert pa.compute.min(dates).as_py() >= datetime.date(2012, 1, 1)


def test_bad_input_is_refused_before_any_work(world: World) -> None:
    headers = world.headers()
    narrow = {
        "title": "Sales only",
        "class": "https://ns.adobe.com/xdm/context/profile",
        "tenantId": "retail",
        "tenantFields": {
            "properties": {
                "date": {"type": "string", "format": "date"},
                "store": {"type": "integer"},
                "weeklySales": {"type": "number"},
            }
        },
    }
    narrow_id = create_dataset(world.catalog, headers, "sales-only", narrow)
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"input_dataset_id": narrow_id}, "missing_features", "temperature"),
        ({"model": {"training_run_id": str(uuid.uuid4())}}, "model_not_found", "not found"),
        ({"model": {"model_id": str(uuid.uuid4())}}, "model_not_found", "not found"),
        (
            {"model": {"model_id": world.training_run["model_id"], "alias": "champion"}},
            "model_version_not_found",
            "champion",
        ),
        ({"input_dataset_id": str(uuid.uuid4())}, "dataset_not_found", "not found"),
        (
            {"output": {"dataset_id": world.dataset_id}},
            "output_schema_incompatible",
            "prediction",
        ),
        ({"window": {"start": "2012-01-01T00:00:00Z", "field": "store"}}, "invalid_window", "date"),
        ({"output": {"name": "retail"}}, "output_not_created", "already exists"),
    ]
    for override, code, words in cases:
        body = {
            "model": {"training_run_id": world.training_run["id"]},
            "input_dataset_id": world.dataset_id,
            "output": {"name": "never"},
            **override,
        }
        response = world.scoring.post("/scoring/v1/runs", json=body, headers=headers)
        assert response.status_code == 422, (override, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code, problem
        assert words in problem["detail"], problem
    missing = world.scoring.post(
        "/scoring/v1/runs", json={"input_dataset_id": "x"}, headers=headers
    ).json()
    assert {error["pointer"] for error in missing["errors"]} >= {
        "/body/model",
        "/body/input_dataset_id",
        "/body/output",
    }
    runs = world.scoring.get("/scoring/v1/runs", params={"limit": 100}, headers=headers).json()
    assert all(run["output_dataset_id"] for run in runs["items"])
    names = world.catalog.get("/catalog/v1/datasets", params={"limit": 100}, headers=headers)
    assert "never" not in {item["name"] for item in names.json()["items"]}


def test_an_empty_input_succeeds_with_zero_rows(world: World) -> None:
    headers = world.headers()
    empty_id = create_dataset(world.catalog, headers, "no-rows-yet", RETAIL_SCHEMA)
    run = _request(world, headers, input_dataset_id=empty_id, output={"name": "empty-out"})
    done = wait_run(world.scoring, headers, str(run["id"]))
    assert done["state"] == "succeeded", done
    assert (done["progress"]["rows_total"], done["progress"]["rows_scored"]) == (0, 0)


def test_another_tenant_sees_none_of_it(world: World) -> None:
    mine = _request(world, world.headers(), output={"name": "private"})
    other = world.headers(org_id="org-b")
    run_id = mine["id"]
    assert world.scoring.get(f"/scoring/v1/runs/{run_id}", headers=other).status_code == 404
    assert world.scoring.post(f"/scoring/v1/runs/{run_id}/cancel", headers=other).status_code == 404
    assert world.scoring.get(f"/scoring/v1/runs/{run_id}/logs", headers=other).status_code == 404
    assert world.scoring.get("/scoring/v1/runs", headers=other).json()["items"] == []
    # Nor can it score with this tenant's model or data.
    body = {
        "model": {"training_run_id": world.training_run["id"]},
        "input_dataset_id": world.dataset_id,
        "output": {"name": "stolen"},
    }
    refused = world.scoring.post("/scoring/v1/runs", json=body, headers=other)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "model_not_found"
    wait_run(world.scoring, world.headers(), str(run_id))


def test_runs_page_with_a_cursor(world: World) -> None:
    headers = world.headers()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = world.scoring.get("/scoring/v1/runs", params=params, headers=headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 3
    bad = world.scoring.get("/scoring/v1/runs", params={"cursor": "nope"}, headers=headers)
    assert bad.status_code == 400


def test_values_of_the_wrong_type_fail_the_run_naming_the_column(world: World) -> None:
    headers = world.headers()
    schema = json.loads(json.dumps(RETAIL_SCHEMA))
    schema["title"] = "Retail with text temperatures"
    schema["tenantFields"]["properties"]["temperature"] = {"type": "string"}
    dataset_id = create_dataset(world.catalog, headers, "text-temperatures", schema)
    lines = retail_rows(50).decode().splitlines()
    rows = [lines[0]] + [
        ",".join(value if i != 5 else "warm" for i, value in enumerate(line.split(",")))
        for line in lines[1:]
    ]
    ingest_csv(world.catalog, headers, dataset_id, ("\n".join(rows) + "\n").encode())
    run = _request(world, headers, input_dataset_id=dataset_id, output={"name": "typed"})
    done = wait_run(world.scoring, headers, str(run["id"]))
    assert done["state"] == "failed", done
    assert "temperature" in done["error"]
    assert done["output_batch_id"] is None
