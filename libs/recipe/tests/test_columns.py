from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dsw_recipe import InputField, RecipeDataError, parse_time, read_table, resolve_fields
from dsw_recipe.datasets import load_luma_interactions, load_retail


def test_luma_duplicate_timestamp_header_keeps_both_columns() -> None:
    table = load_luma_interactions()
    assert table.column_names == [
        "timestamp",
        "userId",
        "itemId",
        "interactionType",
        "timestamp_2",
    ]
    assert table.num_rows == 695
    assert table["timestamp"].equals(table["timestamp_2"])


def test_retail_sample_shape() -> None:
    table = load_retail()
    assert table.num_rows == 5175
    assert "markDown" in table.column_names


def test_resolve_fields_matches_case_and_tenant_prefix() -> None:
    table = pa.table(
        {
            "_acme.Store": [1, 2],
            "markDown": ["1.5", "2"],
            "isHoliday": ["TRUE", "false"],
            "date": ["2/5/10", "2010-02-12"],
        }
    )
    fields = [
        InputField("store", "integer"),
        InputField("markdown", "number"),
        InputField("isHoliday", "boolean"),
        InputField("date", "date"),
        InputField("note", "string", required=False),
    ]
    resolved = resolve_fields(table, fields)
    assert resolved.column_names == ["store", "markdown", "isHoliday", "date", "note"]
    assert resolved["store"].to_pylist() == [1, 2]
    assert resolved["markdown"].to_pylist() == [1.5, 2.0]
    assert resolved["isHoliday"].to_pylist() == [True, False]
    assert resolved["date"].to_pylist() == [datetime(2010, 2, 5), datetime(2010, 2, 12)]
    assert resolved["note"].null_count == 2


def test_resolve_fields_names_every_missing_field() -> None:
    with pytest.raises(RecipeDataError, match=r"missing required field\(s\): store, cpi"):
        resolve_fields(
            pa.table({"date": ["2/5/10"]}),
            [InputField("store", "integer"), InputField("cpi", "number")],
        )
    with pytest.raises(RecipeDataError, match="not booleans"):
        resolve_fields(pa.table({"flag": ["maybe"]}), [InputField("flag", "boolean")])


def test_parse_time_formats_and_zones() -> None:
    parsed = parse_time(
        pa.array(
            [
                "2/5/10",
                "2019-02-15 23:04:06",
                "2019-02-15T23:04:06Z",
                "2019-02-15T23:04:06.5+01:00",
                None,
            ]
        )
    )
    assert parsed.to_pylist() == [
        datetime(2010, 2, 5),
        datetime(2019, 2, 15, 23, 4, 6),
        datetime(2019, 2, 15, 23, 4, 6),
        datetime(2019, 2, 15, 22, 4, 6, 500000),
        None,
    ]
    zoned = pa.array([datetime(2020, 1, 1, 12)], pa.timestamp("ms", tz="Europe/Paris"))
    assert parse_time(zoned).to_pylist() == [datetime(2020, 1, 1, 12)]
    with pytest.raises(RecipeDataError, match="unparseable"):
        parse_time(pa.array(["not a date"]))


def test_read_table_parquet_and_unknown(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    assert read_table(tmp_path / "x.parquet").column_names == ["a"]
    (tmp_path / "x.txt").write_text("a\n1\n")
    with pytest.raises(RecipeDataError, match=r"expected a \.csv"):
        read_table(tmp_path / "x.txt")
