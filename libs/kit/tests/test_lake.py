"""The lake moves a staged folder into place, on a local disk and on an S3-compatible store."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsw_kit.broker import free_port
from dsw_kit.lake import Lake, open_files

ROOT = Path(__file__).resolve().parents[3]
MOTO = ROOT / ".tools" / "s3" / "bin" / "moto_server"


def _stage(lake: Lake, folder: str) -> None:
    """Two Parquet files, one in a subfolder, as an ingestion stages them."""
    lake.make_dirs(f"{folder}/part")
    table = pa.table({"x": [1, 2, 3]})
    pq.write_table(table, f"{folder}/a.parquet", filesystem=lake.filesystem)
    pq.write_table(table, f"{folder}/part/b.parquet", filesystem=lake.filesystem)


def _moved_correctly(lake: Lake, source: str, destination: str) -> None:
    lake.move(source, destination)
    rows = pq.read_table(f"{destination}/part/b.parquet", filesystem=lake.filesystem).num_rows
    assert rows == 3
    assert pq.read_table(f"{destination}/a.parquet", filesystem=lake.filesystem).num_rows == 3
    assert lake.filesystem.get_file_info(f"{source}/a.parquet").type.name == "NotFound"


def test_move_on_a_local_disk_replaces_the_destination(tmp_path: Path) -> None:
    lake = Lake((tmp_path / "lake").as_uri())
    source, destination = f"{lake.root}/_staging/batch-1", f"{lake.root}/dataset/batch"
    _stage(lake, destination)  # an earlier attempt's output is replaced
    _stage(lake, source)
    _moved_correctly(lake, source, destination)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server (``make s3-tool``) with an empty bucket; the endpoint."""
    subprocess.run(["make", "-s", "s3-tool"], cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [str(MOTO), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.put(f"{endpoint}/bucket", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.2)
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.integration
def test_move_on_s3_copies_every_object_of_the_folder(s3: str) -> None:
    lake = Lake("s3://bucket/lake")
    source, destination = f"{lake.root}/_staging/batch-1", f"{lake.root}/dataset/batch"
    _stage(lake, source)
    _moved_correctly(lake, source, destination)


def test_files_of_evolved_schemas_read_through_their_union(tmp_path: Path) -> None:
    """An XDM schema evolved compatibly: the later file adds a top-level and a nested field."""
    old = pa.table({"_id": ["a"], "_acme": pa.array([{"x": 1}], pa.struct([("x", pa.int64())]))})
    added = pa.struct([("x", pa.int64()), ("y", pa.string())])
    new = pa.table({"_id": ["b"], "_acme": pa.array([{"x": 2, "y": "z"}], added), "extra": [1.0]})
    pq.write_table(old, tmp_path / "1.parquet")
    pq.write_table(new, tmp_path / "2.parquet")
    uris = [f"file://{tmp_path / '1.parquet'}", f"file://{tmp_path / '2.parquet'}"]
    rows = open_files(uris).to_table().to_pylist()
    assert rows == [
        {"_id": "a", "_acme": {"x": 1, "y": None}, "extra": None},
        {"_id": "b", "_acme": {"x": 2, "y": "z"}, "extra": 1.0},
    ]
