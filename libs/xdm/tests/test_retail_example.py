"""The README example: the retail-sales dataset as a custom schema, and its CSV validated."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import dsw_xdm as xdm

RETAIL_CSV = Path(__file__).parent / "data" / "retail-training.csv"

RETAIL_SCHEMA = {
    "title": "Retail sales",
    "description": "Weekly sales per store (DSW retail sample).",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "fieldGroups": ["https://ns.adobe.com/xdm/context/identitymap"],
    "tenantId": "retail",
    "tenantFields": {
        "properties": {
            "date": {"type": "string", "format": "date"},
            "store": {"type": "integer", "minimum": 1, "maximum": 1000},
            "storeType": {"type": "string", "enum": ["A", "B", "C"]},
            "weeklySales": {"type": "number", "minimum": 0},
            "storeSize": {"type": "integer", "minimum": 0},
            "temperature": {"type": "number"},
            "regionalFuelPrice": {"type": "number", "minimum": 0},
            "markDown": {"type": "number"},
            "cpi": {"type": "number"},
            "unemployment": {"type": "number", "minimum": 0, "maximum": 100},
            "isHoliday": {"type": "boolean"},
        },
        "required": ["date", "store", "weeklySales"],
    },
}


def _with_tenant_headers(path: Path, tmp_path: Path) -> Path:
    # The file's headers are bare names; in the dataset they live under the tenant object.
    lines = path.read_text(encoding="utf-8").splitlines()
    header = ",".join(f"_retail.{name}" for name in lines[0].split(","))
    target = tmp_path / "retail.csv"
    target.write_text("\n".join([header, *lines[1:]]) + "\n", encoding="utf-8")
    return target


def test_retail_schema_and_csv(tmp_path: Path) -> None:
    schema = xdm.schema_from_json(RETAIL_SCHEMA)
    assert schema.field("_retail.store").xdm_type == "short"
    assert xdm.to_arrow_schema(schema).field("_retail").type.field("date").type == pa.date32()

    coercion = xdm.read_csv(
        _with_tenant_headers(RETAIL_CSV, tmp_path), schema, formats={"_retail.date": "%m/%d/%y"}
    )
    assert coercion.error_count == 0, coercion.errors[:3]
    table = coercion.table
    assert table.num_rows == 5175
    result = xdm.validate_table(schema, table)
    assert result.ok, result.violations[:3]
    first = table.slice(0, 1).to_pylist()[0]["_retail"]
    assert first["store"] == 1
    assert first["isHoliday"] is False
    assert str(first["date"]) == "2010-02-05"


def test_retail_bad_cells_are_reported(tmp_path: Path) -> None:
    schema = xdm.schema_from_json(RETAIL_SCHEMA)
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "_retail.date,_retail.store,_retail.storeType,_retail.weeklySales\n"
        "2/5/10,1,A,100.5\n"
        "2/30/10,x,Z,-1\n",
        encoding="utf-8",
    )
    coercion = xdm.read_csv(csv, schema, formats={"_retail.date": "%m/%d/%y"})
    assert {(e.row, e.column) for e in coercion.errors} == {
        (1, "_retail.date"),
        (1, "_retail.store"),
    }
    result = xdm.validate_table(schema, coercion.table)
    assert {(v.row, v.path, v.rule) for v in result.violations} == {
        (1, "/_retail/date", "required"),
        (1, "/_retail/store", "required"),
        (1, "/_retail/storeType", "enum"),
        (1, "/_retail/weeklySales", "minimum"),
    }
    valid = pc.and_(coercion.valid, result.valid)
    assert valid.to_pylist() == [True, False]
