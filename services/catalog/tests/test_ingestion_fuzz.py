"""Fuzzing the upload endpoint: malformed CSV, JSON, JSON Lines and Parquet bytes, plain or gzip.

Each example is uploaded into a new batch of a dataset that already holds good data, completed,
and ingested by the real worker (real broker, real lake). Whatever the bytes, the batch must end
(never stuck), a failure must say why, a success must be readable, and the data accepted before
must stay exactly as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import RETAIL_CSV, complete_and_wait, create_batch, create_dataset, ingest, upload

# Fuzzing belongs to the integration tier (issue 17): hundreds of generated uploads per test.
pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]
SAMPLE_LINES = RETAIL_CSV.read_bytes().splitlines(keepends=True)[:41]  # header + 40 rows
GOOD_CSV = b"".join(SAMPLE_LINES)


def _good_records() -> list[dict[str, Any]]:
    header = SAMPLE_LINES[0].decode().strip().split(",")
    rows = [line.decode().strip().split(",") for line in SAMPLE_LINES[1:]]
    return [dict(zip(header, row, strict=True)) for row in rows]


def _good_file(file_format: str) -> bytes:
    records = _good_records()
    if file_format == "csv":
        return GOOD_CSV
    if file_format == "jsonl":
        return b"".join(json.dumps(record).encode() + b"\n" for record in records)
    if file_format == "json":
        return json.dumps(records).encode()
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink)
    return sink.getvalue()


@st.composite
def malformed(draw: st.DrawFn, file_format: str) -> bytes:
    """Random bytes, or a good file truncated, with bytes flipped, inserted or deleted."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=512))
    content = bytearray(_good_file(file_format))
    for _ in range(draw(st.integers(1, 6))):
        if not content:
            break
        at = draw(st.integers(0, len(content) - 1))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if edit == "flip":
            content[at] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            content[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del content[at : at + draw(st.integers(1, 64))]
        else:
            del content[at:]
    return bytes(content)


@st.composite
def uploads(draw: st.DrawFn) -> tuple[str, str, bytes]:
    file_format = draw(st.sampled_from(["csv", "jsonl", "json", "parquet"]))
    content = draw(malformed(file_format))
    compression = draw(st.sampled_from(["none", "gzip", "gzip-claimed"]))
    if compression == "gzip":
        content = gzip.compress(content)
    # "gzip-claimed": the batch says gzip, the bytes are not.
    return file_format, "none" if compression == "none" else "gzip", content


def _lake_state(client: TestClient, headers: dict[str, str], dataset_id: str) -> Any:
    return client.get(f"/catalog/v1/datasets/{dataset_id}/files", headers=headers).json()


def test_malformed_uploads_end_clearly_and_leave_earlier_data_intact(
    client: TestClient, auth: Auth
) -> None:
    from dsw_kit.datasets import open_catalog_dataset

    headers = auth()
    dataset_id = create_dataset(client, headers, name="fuzzed")
    assert ingest(client, headers, dataset_id, {"good.csv": GOOD_CSV})["status"] == "success"
    expected_rows = {"count": 40}

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(upload_case=uploads())
    def one_upload(upload_case: tuple[str, str, bytes]) -> None:
        file_format, compression, content = upload_case
        before = _lake_state(client, headers, dataset_id)
        batch_id = create_batch(
            client, headers, dataset_id, format=file_format, compression=compression
        )
        response = upload(client, headers, batch_id, f"fuzz.{file_format}", content)
        if response.status_code != 200:
            # Refused at upload (e.g. an empty file): a problem document, never a server error.
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            return
        batch = complete_and_wait(client, headers, batch_id)
        assert batch["status"] in {"success", "partial", "failed"}, batch
        if batch["status"] == "failed":
            assert batch["error"], batch
            assert _lake_state(client, headers, dataset_id) == before
            return
        expected_rows["count"] += batch["rows_written"]
        if batch["has_error_report"]:
            report = client.get(f"/catalog/v1/batches/{batch_id}/errors", headers=headers)
            assert report.status_code == 200, report.text
        after = _lake_state(client, headers, dataset_id)
        assert all(file in after for file in before)  # a new batch only adds files

    one_upload()
    summary = client.get(f"/catalog/v1/datasets/{dataset_id}", headers=headers).json()
    assert summary["row_count"] == expected_rows["count"]
    client.headers.update(headers)
    assert open_catalog_dataset(client, dataset_id).count_rows() == expected_rows["count"]


retail_rows = st.fixed_dictionaries(
    {
        "date": st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
        "store": st.integers(1, 1000),
        "storeType": st.one_of(st.none(), st.sampled_from(["A", "B", "C"])),
        "weeklySales": st.floats(0, 1e9, allow_nan=False, allow_infinity=False),
        "storeSize": st.one_of(st.none(), st.integers(0, 2**31 - 1)),  # XDM integer: 32 bits
        "temperature": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
        "isHoliday": st.one_of(st.none(), st.booleans()),
    }
)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, date):
        return value.strftime("%m/%d/%y")
    return repr(value) if isinstance(value, float) else str(value)


def test_valid_csv_rows_are_ingested_exactly(client: TestClient, auth: Auth) -> None:
    """CSV parsing and conversion: whatever valid rows, the lake holds them as they were sent."""
    from dsw_kit.datasets import open_catalog_dataset

    headers = auth()
    client.headers.update(headers)

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(rows=st.lists(retail_rows, min_size=1, max_size=30))
    def round_trip(rows: list[dict[str, Any]]) -> None:
        dataset_id = create_dataset(client, headers, name=f"rt-{uuid.uuid4().hex[:12]}")
        columns = list(rows[0])
        lines = [",".join(columns)] + [",".join(_csv_cell(row[c]) for c in columns) for row in rows]
        content = ("\n".join(lines) + "\n").encode()
        batch = ingest(client, headers, dataset_id, {"rows.csv": content})
        if batch["status"] != "success":
            report = client.get(f"/catalog/v1/batches/{batch['id']}/errors").text
            raise AssertionError(f"{batch['error']}\n{report[:2000]}\n{content.decode()[:2000]}")
        table = open_catalog_dataset(client, dataset_id).to_table()
        stored = table.column("_retail").to_pylist()
        assert len(stored) == len(rows)
        key = lambda row: (row["store"], row["date"], row["weeklySales"])  # noqa: E731
        for sent, got in zip(sorted(rows, key=key), sorted(stored, key=key), strict=True):
            expected_date = datetime.strptime(sent["date"].strftime("%m/%d/%y"), "%m/%d/%y").date()
            assert got["date"] == expected_date
            assert got["weeklySales"] == sent["weeklySales"]
            for column in ("store", "storeType", "storeSize", "temperature", "isHoliday"):
                assert got[column] == sent[column], column

    round_trip()
