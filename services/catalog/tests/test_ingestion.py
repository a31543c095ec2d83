"""Batch ingestion end to end: upload, complete, worker, lake, data access (real broker)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from .helpers import (
    RETAIL_CSV,
    complete_and_wait,
    create_batch,
    create_dataset,
    create_schema,
    ingest,
    upload,
)

Auth = Callable[..., dict[str, str]]
RETAIL = RETAIL_CSV.read_bytes()


def test_retail_csv_is_ingested_and_readable(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers, timestamp_field="_retail.date")
    batch = ingest(client, headers, dataset_id, {"retail.csv": RETAIL})
    assert batch["status"] == "success", batch
    assert (batch["rows_read"], batch["rows_written"], batch["rows_rejected"]) == (5175, 5175, 0)

    dataset = client.get(f"/catalog/v1/datasets/{dataset_id}", headers=headers).json()
    assert dataset["row_count"] == 5175
    assert dataset["batch_count"] == 1

    preview = client.get(f"/catalog/v1/datasets/{dataset_id}/preview?limit=2", headers=headers)
    first = preview.json()["rows"][0]["_retail"]
    assert first == {
        "date": "2010-02-05",
        "store": 1,
        "storeType": "A",
        "weeklySales": 1643690.9,
        "storeSize": 151315,
        "temperature": 42.31,
        "regionalFuelPrice": 2.572,
        "markDown": 0.0,
        "cpi": 211.0963582,
        "unemployment": 8.106,
        "isHoliday": False,
    }

    stats = client.get(f"/catalog/v1/datasets/{dataset_id}/statistics", headers=headers).json()
    sales = stats["columns"]["_retail.weeklySales"]
    assert stats["rows"] == 5175
    assert sales["min"] == 209986.25
    assert 1_000_000 < sales["mean"] < 1_100_000
    store_type = stats["columns"]["_retail.storeType"]
    assert store_type["approx_distinct"] == 3
    assert store_type["top_values"][0] == {"value": "A", "count": 2530}

    files = client.get(f"/catalog/v1/datasets/{dataset_id}/files", headers=headers).json()
    assert sum(file["rows"] for file in files) == 5175
    downloaded = client.get(
        f"/catalog/v1/datasets/{dataset_id}/files/{files[0]['batch_id']}/{files[0]['name']}",
        headers=headers,
    )
    assert downloaded.status_code == 200
    table = pq.read_table(pa.BufferReader(downloaded.content))
    assert table.num_rows == files[0]["rows"]

    window = client.get(
        f"/catalog/v1/datasets/{dataset_id}/rows",
        params={"since": "2010-02-05T00:00:00Z", "until": "2010-02-06T00:00:00Z", "limit": 1000},
        headers=headers,
    ).json()
    assert window["count"] == 45  # one week of 45 stores
    assert {row["_retail"]["date"] for row in window["rows"]} == {"2010-02-05"}


def test_bad_rows_are_reported_and_partial_ingestion_respects_the_threshold(
    client: TestClient, auth: Auth
) -> None:
    headers = auth()
    lines = RETAIL.decode().splitlines()
    lines[3] = "2/30/10,x,Z,-1,1,1,1,1,1,1,maybe"  # bad date, store, type, sales, boolean
    lines[7] = "2/5/10,3"  # malformed: too few columns
    broken = ("\n".join(lines) + "\n").encode()

    strict = create_dataset(client, headers, name="strict")
    failed = ingest(client, headers, strict, {"a.csv": broken})
    assert failed["status"] == "failed"
    assert "2 of 5175 rows" in failed["error"]
    assert client.get(f"/catalog/v1/datasets/{strict}/files", headers=headers).json() == []

    lenient = create_dataset(
        client, headers, name="lenient", allow_partial=True, error_threshold_percent=1.0
    )
    partial = ingest(client, headers, lenient, {"a.csv": broken})
    assert partial["status"] == "partial"
    assert (partial["rows_written"], partial["rows_rejected"]) == (5173, 2)
    report = client.get(f"/catalog/v1/batches/{partial['id']}/errors", headers=headers)
    errors = [json.loads(line) for line in report.text.splitlines()]
    by_row = {(error["row"], error["path"], error["rule"]) for error in errors}
    assert (4, "/_retail/date", "type") in by_row
    assert (4, "/_retail/store", "type") in by_row
    assert (4, "/_retail/storeType", "enum") in by_row
    assert (4, "/_retail/weeklySales", "minimum") in by_row
    assert (8, "", "csv") in by_row
    assert all(error["file"] == "a.csv" for error in errors)


def test_a_failing_batch_leaves_earlier_batches_untouched(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    assert ingest(client, headers, dataset_id, {"a.csv": RETAIL})["status"] == "success"
    before = client.get(f"/catalog/v1/datasets/{dataset_id}/files", headers=headers).json()
    bad = ingest(client, headers, dataset_id, {"b.csv": b"date,store\n\xff\xfe,1\n"})
    assert bad["status"] == "failed"
    assert "UTF-8" in bad["error"]
    after = client.get(f"/catalog/v1/datasets/{dataset_id}/files", headers=headers).json()
    assert after == before
    summary = client.get(f"/catalog/v1/datasets/{dataset_id}", headers=headers).json()
    assert summary["row_count"] == 5175
    # The list shows the same counts (one query per page), and zeros for an empty dataset.
    empty_id = create_dataset(client, headers, name="empty")
    listed = client.get("/catalog/v1/datasets", headers=headers).json()["items"]
    counts = {
        item["id"]: (item["row_count"], item["batch_count"], item["size_bytes"] > 0)
        for item in listed
    }
    assert counts[dataset_id] == (5175, 1, True)
    assert counts[empty_id] == (0, 0, False)


def test_file_level_problems_fail_the_batch_with_a_clear_error(
    client: TestClient, auth: Auth
) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    cases = {
        "duplicate header": (b"date,store,date\n2/5/10,1,2/5/10\n", {}, "more than once"),
        "empty file": (b"", {}, "is empty"),
        "unknown column rejected": (
            b"date,store,weeklySales,color\n2/5/10,1,5,red\n",
            {"unknown_columns": "reject"},
            "color",
        ),
        "gzip bomb": (
            gzip.compress(b"date,store\n" + b"2/5/10,1\n" * 1_000_000),
            {"compression": "gzip"},
            "decompression bomb",
        ),
        "not gzip": (b"plain text", {"compression": "gzip"}, "not a valid gzip"),
    }
    for label, (content, options, message) in cases.items():
        batch = ingest(client, headers, dataset_id, {"f.csv": content}, **options)
        assert batch["status"] == "failed", label
        assert message in batch["error"], (label, batch["error"])


def test_unknown_columns_are_dropped_when_ignored(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    batch = ingest(
        client, headers, dataset_id, {"f.csv": b"date,store,weeklySales,color\n2/5/10,1,5,red\n"}
    )
    assert batch["status"] == "success"
    assert batch["rows_written"] == 1
    # Kept as the default, but the batch names what it dropped.
    assert batch["dropped_columns"] == [{"name": "color", "rows": 1}]
    records = [{"_retail": {"date": "2010-02-05", "store": 1, "weeklySales": 2}, "note": "x"}] * 3
    text = "\n".join(json.dumps(record) for record in records).encode()
    jsonl = ingest(client, headers, dataset_id, {"n.jsonl": text}, format="jsonl")
    assert jsonl["dropped_columns"] == [{"name": "note", "rows": 3}]
    clean = ingest(client, headers, dataset_id, {"c.csv": b"date,store,weeklySales\n2/5/10,1,5\n"})
    assert clean["dropped_columns"] == []


def test_csv_headers_find_fields_without_regard_to_case(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    csv = b"DATE,Store,weeklysales,_RETAIL.isHoliday\n2/5/10,1,5,TRUE\n"
    batch = ingest(client, headers, dataset_id, {"f.csv": csv})
    assert (batch["status"], batch["rows_written"], batch["dropped_columns"]) == ("success", 1, [])
    row = client.get(f"/catalog/v1/datasets/{dataset_id}/preview", headers=headers).json()["rows"]
    assert row[0]["_retail"] | {"weeklySales": 5.0} == row[0]["_retail"]
    assert row[0]["_retail"]["isHoliday"] is True


def test_gzip_jsonl_and_parquet_inputs(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    gz = ingest(
        client, headers, dataset_id, {"r.csv.gz": gzip.compress(RETAIL)}, compression="gzip"
    )
    assert (gz["status"], gz["rows_written"]) == ("success", 5175), gz["error"]

    records = [
        {"_retail": {"date": "2010-02-05", "store": 1, "weeklySales": 10.5}},
        {"_retail": {"date": "2010-02-05", "store": "one", "weeklySales": 1}},
        "not an object",
    ]
    text = "\n".join(json.dumps(record) for record in records) + "\n{broken\n"
    jsonl = ingest(client, headers, dataset_id, {"r.jsonl": text.encode()}, format="jsonl")
    assert jsonl["status"] == "failed"
    assert (jsonl["rows_read"], jsonl["rows_rejected"]) == (4, 3)

    table = pa.table(
        {
            "_retail.date": pa.array(["2010-02-05"]),
            "_retail.store": [7],
            "_retail.weeklySales": [3.5],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    parquet = ingest(
        client, headers, dataset_id, {"r.parquet": buffer.getvalue()}, format="parquet"
    )
    assert (parquet["status"], parquet["rows_written"]) == ("success", 1), parquet["error"]


def test_upload_rules(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    batch_id = create_batch(client, headers, dataset_id)
    for name in ("..", "a..b", ".hidden", "a%2Fb", "x%00y"):
        response = upload(client, headers, batch_id, name, b"x")
        assert response.status_code in (400, 404, 405), name  # ".." never reaches the handler
        assert response.headers["content-type"] == "application/problem+json"
    too_big = upload(client, headers, batch_id, "big.csv", b"x" * (5 * 1024 * 1024 + 1))
    assert too_big.status_code == 413
    empty = client.post(f"/catalog/v1/batches/{batch_id}/complete", headers=headers)
    assert empty.status_code == 422
    assert empty.json()["code"] == "batch_empty"

    assert upload(client, headers, batch_id, "a.csv", b"first").status_code == 200
    replaced = upload(client, headers, batch_id, "a.csv", RETAIL)
    assert replaced.json()["size"] == len(RETAIL)
    done = complete_and_wait(client, headers, batch_id)
    assert done["status"] == "success"
    assert [file["name"] for file in done["files"]] == ["a.csv"]
    late = upload(client, headers, batch_id, "b.csv", RETAIL)
    assert late.status_code == 409
    assert late.json()["code"] == "batch_not_loading"


def test_abort_and_tenant_isolation(client: TestClient, auth: Auth) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, "a.csv", RETAIL)
    aborted = client.post(f"/catalog/v1/batches/{batch_id}/abort", headers=headers)
    assert aborted.json()["status"] == "aborted"
    assert client.post(f"/catalog/v1/batches/{batch_id}/abort", headers=headers).status_code == 409

    other = auth(org_id="org-b")
    assert client.get(f"/catalog/v1/batches/{batch_id}", headers=other).status_code == 404
    assert upload(client, other, batch_id, "x.csv", RETAIL).status_code == 404
    assert client.get(f"/catalog/v1/datasets/{dataset_id}/files", headers=other).status_code == 404
    theirs = client.post(
        f"/catalog/v1/datasets/{dataset_id}/batches", json={"format": "csv"}, headers=other
    )
    assert theirs.status_code == 404


def test_schemas_api(client: TestClient, auth: Auth) -> None:
    headers = auth()
    classes = client.get("/catalog/v1/xdm/classes", headers=headers).json()
    assert {
        "https://ns.adobe.com/xdm/context/profile",
        "https://ns.adobe.com/xdm/context/experienceevent",
    } <= {c["id"] for c in classes}
    component = client.get(
        "/catalog/v1/xdm/components",
        params={"id": "https://ns.adobe.com/xdm/context/profile"},
        headers=headers,
    )
    assert component.status_code == 200
    schema_id = create_schema(client, headers)
    schema = client.get(f"/catalog/v1/schemas/{schema_id}", headers=headers).json()
    assert "_retail.weeklySales" in schema["fields"]
    json_schema = client.get(f"/catalog/v1/schemas/{schema_id}/jsonschema", headers=headers)
    assert json_schema.json()["$schema"].endswith("2020-12/schema")
    arrow = client.get(f"/catalog/v1/schemas/{schema_id}/arrow", headers=headers).json()
    assert any(column["name"] == "_retail" for column in arrow)
    bad = client.post(
        "/catalog/v1/schemas", json={"title": "x", "class": "https://nope"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_schema"
    create_dataset(client, headers, schema_id=schema_id)
    in_use = client.delete(f"/catalog/v1/schemas/{schema_id}", headers=headers)
    assert in_use.status_code == 409
    missing = client.post(
        "/catalog/v1/datasets", json={"name": "n", "schema_id": "nope"}, headers=headers
    )
    assert missing.status_code == 422


def test_other_services_read_a_dataset_as_arrow(client: TestClient, auth: Auth) -> None:
    from dsw_kit.datasets import open_catalog_dataset

    headers = auth()
    dataset_id = create_dataset(client, headers)
    ingest(client, headers, dataset_id, {"a.csv": RETAIL})
    ingest(client, headers, dataset_id, {"b.csv": RETAIL})
    client.headers.update(headers)
    data = open_catalog_dataset(client, dataset_id)
    assert data.count_rows() == 2 * 5175
    sales = data.to_table(columns={"sales": pc_field("_retail", "weeklySales")})
    assert sales.num_rows == 2 * 5175


def pc_field(*path: str):  # type: ignore[no-untyped-def]
    import pyarrow.dataset as ds

    return ds.field(*path)


def test_text_in_parquet_and_json_is_converted_like_csv(client: TestClient, auth: Auth) -> None:
    # A date written 2/5/10 in a Parquet or JSON file reads with the batch's formats, numbers
    # and booleans written as text convert as CSV cells do; ISO dates still read as they are.
    headers = auth()
    dataset_id = create_dataset(client, headers, allow_partial=True, error_threshold_percent=50.0)
    table = pa.table(
        {
            "_retail.date": ["2/5/10", "2010-02-12", "2/30/10"],
            "_retail.store": ["1", "2", "3"],
            "_retail.weeklySales": [1.5, 2.5, 3.5],
            "_retail.isHoliday": ["TRUE", "no", "false"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    parquet = ingest(
        client, headers, dataset_id, {"t.parquet": buffer.getvalue()}, format="parquet"
    )
    assert parquet["status"] == "partial", parquet
    assert (parquet["rows_written"], parquet["rows_rejected"]) == (2, 1)
    report = client.get(f"/catalog/v1/batches/{parquet['id']}/errors", headers=headers).text
    problems = [json.loads(line) for line in report.splitlines()]
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem["row"], problem["path"], problem["rule"]) == (3, "/_retail/date", "type")
    assert "%m/%d/%y" in problem["message"]

    record = {"_retail": {"date": "4/6/12", "store": "4", "weeklySales": "5.5", "isHoliday": "Y"}}
    jsonl = ingest(
        client, headers, dataset_id, {"t.jsonl": json.dumps(record).encode()}, format="jsonl"
    )
    assert (jsonl["status"], jsonl["rows_written"]) == ("success", 1), jsonl
    rows = client.get(
        f"/catalog/v1/datasets/{dataset_id}/preview", params={"limit": 10}, headers=headers
    ).json()["rows"]
    got = sorted(
        (row["_retail"]["date"], row["_retail"]["store"], row["_retail"]["isHoliday"])
        for row in rows
    )
    assert got == [
        ("2010-02-05", 1, True),
        ("2010-02-12", 2, False),
        ("2012-04-06", 4, True),
    ]


def test_the_error_report_keeps_as_many_problems_as_documented(
    client: TestClient, auth: Auth
) -> None:
    headers = auth()
    dataset_id = create_dataset(client, headers)
    rows = "".join(f"2/5/10,{index % 5 + 1},-{index}\n" for index in range(2500))
    batch = ingest(
        client, headers, dataset_id, {"neg.csv": f"date,store,weeklySales\n{rows}".encode()}
    )
    assert (batch["status"], batch["rows_rejected"]) == ("failed", 2499)  # -0 is not negative
    report = client.get(f"/catalog/v1/batches/{batch['id']}/errors", headers=headers).text
    assert len(report.splitlines()) == 2499  # not cut at 1,000 (10,000 are kept)
