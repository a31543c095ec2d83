"""Per-column statistics computed at ingestion and merged across batches.

Numbers: count, nulls, min, max, mean and standard deviation (kept as sums so batches merge
exactly). Strings: approximate distinct count (an Apache DataSketches HLL sketch per column, merged
across batches) and the most frequent values. Booleans: how many are true. Dates and times: min/max.
"""

from __future__ import annotations

import base64
import math
from collections import Counter, deque
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datasketches import hll_sketch, hll_union

from dsw_xdm import flatten_table

_TOP_KEPT = 200
_TOP_SHOWN = 10
_HLL_LG_K = 12


class ColumnStatistics:
    """Accumulates one column's statistics over blocks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.nulls = 0
        self.minimum: Any = None
        self.maximum: Any = None
        self.total = 0.0
        self.total_squares = 0.0
        self.trues = 0
        self.top: Counter[str] = Counter()
        self.sketch = hll_sketch(_HLL_LG_K) if kind == "string" else None

    def add(self, array: pa.Array) -> None:
        self.count += len(array)
        self.nulls += array.null_count
        if array.null_count == len(array):
            return  # nothing more to learn (most optional fields of wide schemas)
        present = pc.drop_null(array) if array.null_count else array
        if self.kind in ("number", "date", "timestamp"):
            bounds = pc.min_max(present)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.minimum = low if self.minimum is None else min(self.minimum, low)
            self.maximum = high if self.maximum is None else max(self.maximum, high)
        if self.kind == "number":
            as_float = pc.cast(present, pa.float64())
            self.total += float(pc.sum(as_float).as_py() or 0.0)
            self.total_squares += float(pc.sum(pc.multiply(as_float, as_float)).as_py() or 0.0)
        elif self.kind == "boolean":
            self.trues += int(pc.sum(pc.cast(present, pa.int64())).as_py() or 0)
        elif self.kind == "string" and self.sketch is not None:
            counts = pc.value_counts(present)
            values, frequencies = counts.field("values"), counts.field("counts")
            # The sketch needs every distinct value (one call each: the costly part of a
            # high-cardinality column such as an id).
            deque(map(self.sketch.update, values.to_pylist()), maxlen=0)
            crowded = len(values) > _TOP_KEPT * 2
            if crowded:
                values, frequencies = self._candidates(values, frequencies)
            self.top.update(dict(zip(values.to_pylist(), frequencies.to_pylist(), strict=True)))
            if crowded or len(self.top) > _TOP_KEPT * 2:
                self.top = Counter(dict(self.top.most_common(_TOP_KEPT)))

    def _candidates(self, values: pa.Array, frequencies: pa.Array) -> tuple[pa.Array, pa.Array]:
        """The values of a block that can still be among the kept top values after it.

        Those kept already, and the block's ``2 * _TOP_KEPT`` most frequent others: any other
        value has at least that many values at least as frequent, so trimming to ``_TOP_KEPT``
        drops it anyway. Saves counting every distinct value of high-cardinality columns.
        """
        known = pa.array(list(self.top), values.type)
        kept = pc.fill_null(pc.is_in(values, value_set=known), False)
        others = pc.invert(kept)
        other_values, other_frequencies = values.filter(others), frequencies.filter(others)
        order = pc.select_k_unstable(
            pa.table({"n": other_frequencies}),
            k=min(_TOP_KEPT * 2, len(other_values)),
            sort_keys=[("n", "descending")],
        )
        return (
            pa.concat_arrays([values.filter(kept), other_values.take(order)]),
            pa.concat_arrays([frequencies.filter(kept), other_frequencies.take(order)]),
        )

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": self.kind, "count": self.count, "nulls": self.nulls}
        if self.kind in ("number", "date", "timestamp"):
            result["min"], result["max"] = _jsonable(self.minimum), _jsonable(self.maximum)
        if self.kind == "number":
            result["sum"], result["sum_squares"] = self.total, self.total_squares
        if self.kind == "boolean":
            result["trues"] = self.trues
        if self.kind == "string" and self.sketch is not None:
            result["hll"] = base64.b64encode(self.sketch.serialize_compact()).decode()
            result["top"] = [[value, count] for value, count in self.top.most_common(_TOP_KEPT)]
        return result


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return value.isoformat()


def _kind(data_type: pa.DataType) -> str | None:
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return "number"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_date(data_type):
        return "date"
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    return None  # lists and maps: counted by the row count only


class TableStatistics:
    """Statistics of every flat column of the rows written by one batch."""

    def __init__(self) -> None:
        self.columns: dict[str, ColumnStatistics] = {}
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        flat = flatten_table(table)
        for name, column in zip(flat.column_names, flat.columns, strict=True):
            kind = _kind(column.type)
            if kind is None:
                continue
            stats = self.columns.setdefault(name, ColumnStatistics(kind))
            for chunk in column.chunks:
                stats.add(chunk)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": {name: stats.to_json() for name, stats in self.columns.items()},
        }


def merge(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset statistics from the statistics of its batches (what the API shows)."""
    rows = sum(int(batch.get("rows", 0)) for batch in batches)
    merged: dict[str, dict[str, Any]] = {}
    sketches: dict[str, hll_union] = {}
    tops: dict[str, Counter[str]] = {}
    for batch in batches:
        for name, column in batch.get("columns", {}).items():
            target = merged.setdefault(name, {"type": column["type"], "count": 0, "nulls": 0})
            target["count"] += column["count"]
            target["nulls"] += column["nulls"]
            for key in ("sum", "sum_squares", "trues"):
                if key in column:
                    target[key] = target.get(key, 0) + column[key]
            if column.get("min") is not None:
                target["min"] = (
                    column["min"]
                    if target.get("min") is None
                    else min(target["min"], column["min"])
                )
                target["max"] = (
                    column["max"]
                    if target.get("max") is None
                    else max(target["max"], column["max"])
                )
            if "hll" in column:
                union = sketches.setdefault(name, hll_union(_HLL_LG_K))
                union.update(hll_sketch.deserialize(base64.b64decode(column["hll"])))
                tops.setdefault(name, Counter()).update(dict(column.get("top", [])))
    columns = {name: _finish(name, column, sketches, tops) for name, column in merged.items()}
    return {"rows": rows, "columns": columns}


def _finish(
    name: str, column: dict[str, Any], sketches: dict[str, hll_union], tops: dict[str, Counter[str]]
) -> dict[str, Any]:
    count, nulls = column["count"], column["nulls"]
    result: dict[str, Any] = {
        "type": column["type"],
        "count": count,
        "null_fraction": (nulls / count) if count else 0.0,
    }
    present = count - nulls
    if column["type"] in ("number", "date", "timestamp"):
        result["min"], result["max"] = column.get("min"), column.get("max")
    if column["type"] == "number" and present:
        mean = column["sum"] / present
        variance = max(column["sum_squares"] / present - mean * mean, 0.0)
        result["mean"] = mean
        result["stddev"] = math.sqrt(variance)
    if column["type"] == "boolean" and present:
        result["true_fraction"] = column.get("trues", 0) / present
    if name in sketches:
        result["approx_distinct"] = round(sketches[name].get_result().get_estimate())
        result["top_values"] = [
            {"value": value, "count": freq} for value, freq in tops[name].most_common(_TOP_SHOWN)
        ]
    return result
