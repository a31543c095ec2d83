"""Reading lake files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dsw_kit.lake import open_files


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
