"""Flat feature columns (dotted paths) <-> nested records, and CSV string coercion.

Recipes and CSV files address XDM fields by dotted paths (`commerce.order.priceTotal`,
`_acme.store`); datasets hold nested records. Arrays and maps are leaves of a flat view: they have
no dotted sub-paths.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ._convert import arrow_type
from ._exceptions import ConversionError
from ._fields import INTEGER_RANGES, INTEGER_TYPES, Field
from ._formats import FORMAT_PATTERNS, valid_calendar_day
from ._schema import Schema

__all__ = [
    "CellError",
    "Coercion",
    "coerce_table",
    "feature_columns",
    "flatten_record",
    "flatten_table",
    "read_csv",
    "unflatten_record",
    "unflatten_table",
]

_INTEGER_TEXT: Final = r"^[+-]?[0-9]{1,18}$"  # 18 digits always fit int64; longer is out of range
_NUMBER_TEXT: Final = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_TRUE: Final = ("true", "t", "yes", "y", "1")
_FALSE: Final = ("false", "f", "no", "n", "0")


def feature_columns(schema: Schema | Field) -> list[str]:
    """Dotted paths of every leaf (scalar, array or map field), in schema order."""
    root = schema.root if isinstance(schema, Schema) else schema
    return [path for path, child in root.walk() if child.xdm_type != "object"]


def flatten_record(
    record: Mapping[str, Any], schema: Schema | Field | None = None
) -> dict[str, Any]:
    """`{"commerce": {"order": {"priceTotal": 1.0}}}` -> `{"commerce.order.priceTotal": 1.0}`.

    Lists are values (not descended into); empty objects disappear. With a schema, maps (and
    fields it does not define) are values too; without one every dict is descended into.
    """
    flat: dict[str, Any] = {}
    root = schema.root if isinstance(schema, Schema) else schema

    def visit(value: Mapping[str, Any], prefix: str, field: Field | None) -> None:
        for key, item in value.items():
            child = field.properties.get(key) if field is not None else None
            nested = isinstance(item, Mapping) and (
                field is None or (child is not None and child.xdm_type == "object")
            )
            if nested and item:
                visit(item, f"{prefix}{key}.", child)
            elif not nested:
                flat[f"{prefix}{key}"] = item

    visit(record, "", root)
    return flat


def unflatten_record(flat: Mapping[str, Any], *, keep_nulls: bool = False) -> dict[str, Any]:
    """`{"a.b": 1, "a.c": None}` -> `{"a": {"b": 1}}` (None values dropped unless `keep_nulls`).

    Raises `ConversionError` when a path is both a value and a parent (`a` and `a.b`).
    """
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        if value is None and not keep_nulls:
            continue
        parts = path.split(".")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConversionError(f"column {path!r} lies below a value column")
        if isinstance(target.get(parts[-1]), dict):
            raise ConversionError(f"column {path!r} is also a parent of other columns")
        target[parts[-1]] = value
    return nested


def flatten_table(table: pa.Table) -> pa.Table:
    """Structs -> dotted columns, recursively (`commerce.order.priceTotal`)."""
    while any(pa.types.is_struct(column.type) for column in table.columns):
        table = table.flatten()
    return table


def unflatten_table(table: pa.Table) -> pa.Table:
    """Dotted columns -> nested struct columns. A struct is null where all its children are."""
    tree: dict[str, Any] = {}
    table = table.combine_chunks()
    for name, column in zip(table.column_names, table.columns, strict=True):
        parts = name.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConversionError(f"column {name!r} lies below a value column")
        if parts[-1] in node:
            raise ConversionError(f"column {name!r} is also a parent of other columns")
        node[parts[-1]] = column.chunk(0) if column.num_chunks else pa.array([], column.type)
    names, arrays = _build(tree, table.num_rows)
    return pa.Table.from_arrays(arrays, names=names)


def _build(tree: dict[str, Any], length: int) -> tuple[list[str], list[pa.Array]]:
    names: list[str] = []
    arrays: list[pa.Array] = []
    for name, node in tree.items():
        if isinstance(node, dict):
            child_names, children = _build(node, length)
            all_null = pc.fill_null(pa.nulls(length, pa.bool_()), True)
            for child in children:
                all_null = pc.and_(all_null, pc.is_null(child))
            node = pa.StructArray.from_arrays(children, names=child_names, mask=all_null)
        names.append(name)
        arrays.append(node)
    return names, arrays


@dataclass(frozen=True)
class CellError:
    """A CSV cell that could not be converted to its field's XDM type."""

    row: int
    column: str
    value: str
    message: str


@dataclass
class Coercion:
    """Result of `coerce_table`: the typed nested table, which rows converted, and cell errors.

    Failed cells are null in `table`; `valid` is False for rows with at least one failed cell.
    `errors` is capped per column; `error_count` counts them all.
    """

    table: pa.Table
    valid: pa.BooleanArray
    errors: list[CellError] = field(default_factory=list)
    error_count: int = 0


def coerce_table(
    schema: Schema | Field,
    table: pa.Table,
    *,
    formats: Mapping[str, str] | None = None,
    unknown_columns: Literal["ignore", "error"] = "ignore",
    max_errors_per_column: int = 100,
) -> Coercion:
    """Convert string columns with dotted headers to the schema's types, then nest them.

    Vectorised per column. Empty strings are null. Integers must be plain decimal text within the
    field's width; numbers decimal or scientific; booleans true/false, t/f, yes/no, y/n, 1/0 (any
    case); dates ISO `YYYY-MM-DD` and date-times RFC 3339, unless `formats` gives a `strptime`
    format for that column (e.g. `{"_acme.date": "%m/%d/%y"}`). Columns that are not strings are
    cast to the target type. Array, map and object fields cannot come from one CSV cell.
    """
    root = schema.root if isinstance(schema, Schema) else schema
    formats = dict(formats or {})
    table = table.combine_chunks()
    columns: dict[str, pa.Array] = {}
    errors: list[CellError] = []
    error_count = 0
    bad_rows = _all_false(table.num_rows)
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            target = root.child(name)
        except KeyError:
            if unknown_columns == "error":
                raise ConversionError(f"column {name!r} is not a field of the schema") from None
            continue
        if target.xdm_type in ("object", "array", "map"):
            raise ConversionError(f"column {name!r} is a {target.xdm_type} field, not a CSV value")
        array = column.chunk(0) if column.num_chunks else pa.array([], column.type)
        converted, failed = _coerce(array, target, formats.get(name))
        failed = pc.fill_null(failed, False)
        positions = pc.indices_nonzero(failed)
        if len(positions):
            error_count += len(positions)
            bad_rows = pc.or_(bad_rows, failed)
            sample = positions.slice(0, max_errors_per_column)
            texts = pc.cast(pc.take(array, sample), pa.string()).to_pylist()
            message = _describe(target, formats.get(name))
            errors.extend(
                CellError(int(row), name, str(text), message)
                for row, text in zip(sample.to_pylist(), texts, strict=True)
            )
        columns[name] = converted
    nested = unflatten_table(pa.table(columns)) if columns else pa.table({})
    return Coercion(table=nested, valid=pc.invert(bad_rows), errors=errors, error_count=error_count)


def _describe(target: Field, strptime_format: str | None) -> str:
    if strptime_format:
        return f"not a {target.xdm_type} in format {strptime_format!r}"
    if target.is_integer:
        low, high = INTEGER_RANGES[target.xdm_type]
        return f"not an integer in the {target.xdm_type} range [{low}, {high}]"
    return {
        "number": "not a number",
        "boolean": "not a boolean (true/false, yes/no, 1/0)",
        "date": "not a date (YYYY-MM-DD)",
        "date-time": "not an RFC 3339 date-time",
    }.get(target.xdm_type, f"not a {target.xdm_type}")


def _all_false(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), False)


def _canonical(text: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_lower(text), r"(^|[^0-9])0+([0-9])", r"\1\2")


def _null(like: pa.DataType) -> pa.Scalar:
    return pa.scalar(None, like)


def _coerce(
    array: pa.Array, target: Field, strptime_format: str | None
) -> tuple[pa.Array, pa.Array]:
    """(converted array, failed-cell mask) for one column."""
    wanted = arrow_type(target)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            return pc.cast(array, wanted), _all_false(len(array))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            array = pc.cast(array, pa.string())
    text = pc.utf8_trim_whitespace(array)
    text = pc.if_else(pc.equal(text, ""), _null(text.type), text)
    present = pc.is_valid(text)
    kind = target.xdm_type
    if kind == "string":
        # Values keep their spaces; an empty cell is a missing value, as for every other type.
        value = pc.cast(array, pa.string())
        return pc.if_else(pc.equal(value, ""), _null(pa.string()), value), _all_false(len(array))
    if strptime_format is not None and kind in ("date", "date-time"):
        parsed = _by_distinct(text, lambda values: _strptime_strict(values, strptime_format))
        failed = pc.and_(present, pc.is_null(parsed))
        if kind == "date":
            return pc.cast(parsed, pa.date32()), failed
        return pc.cast(parsed, wanted), failed
    if kind == "boolean":
        lowered = pc.utf8_lower(text)
        true = pc.is_in(lowered, value_set=pa.array(_TRUE))
        false = pc.is_in(lowered, value_set=pa.array(_FALSE))
        value = pc.if_else(true, True, pc.if_else(false, False, _null(pa.bool_())))
        return value, pc.and_(present, pc.invert(pc.or_(true, false)))
    if kind in INTEGER_TYPES:
        ok = pc.match_substring_regex(text, _INTEGER_TEXT)
        wide = pc.cast(pc.if_else(ok, text, _null(text.type)), pa.int64())
        low, high = INTEGER_RANGES[kind]
        ok = pc.and_(ok, pc.and_(pc.greater_equal(wide, low), pc.less_equal(wide, high)))
        ok = pc.fill_null(ok, False)
        value = pc.cast(pc.if_else(ok, wide, _null(pa.int64())), wanted)
        return value, pc.and_(present, pc.invert(ok))
    if kind == "number":
        ok = pc.match_substring_regex(text, _NUMBER_TEXT)
        value = pc.cast(pc.if_else(ok, text, _null(text.type)), pa.float64())
        return value, pc.and_(present, pc.invert(ok))
    ok = pc.match_substring_regex(text, FORMAT_PATTERNS[kind])
    candidates = pc.if_else(ok, text, _null(text.type))
    ok = pc.fill_null(pc.and_(ok, valid_calendar_day(candidates)), False)
    candidates = pc.if_else(ok, text, _null(text.type))
    if kind == "date":
        return pc.cast(candidates, pa.date32()), pc.and_(present, pc.invert(ok))
    # Arrow parses RFC 3339 itself; only more than millisecond digits must be cut first.
    normalised = pc.replace_substring_regex(pc.utf8_upper(candidates), r"(\.[0-9]{3})[0-9]+", r"\1")
    return pc.cast(normalised, wanted), pc.and_(present, pc.invert(ok))


def _strptime_strict(text: pa.Array, strptime_format: str) -> pa.Array:
    # Seconds: strptime formats have no fractions, and a millisecond timestamp would format
    # %S back as "05.000", which never equals the text.
    parsed = pc.strptime(text, format=strptime_format, unit="s", error_is_null=True)
    # Arrow's strptime rolls impossible days over (2/30 -> 3/2): a value must also read the
    # same when formatted back (ignoring leading zeros and case).
    same = pc.equal(_canonical(pc.strftime(parsed, format=strptime_format)), _canonical(text))
    wanted = pa.timestamp("ms", tz=parsed.type.tz)
    return pc.if_else(same, pc.cast(parsed, wanted), _null(wanted))


def _by_distinct(text: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``convert(text)``, computed once per distinct value when values repeat a lot.

    Dates in a file repeat (one per week or day across many rows); parsing and checking each
    distinct text once, then spreading the results, is much cheaper than once per row.
    """
    distinct = pc.unique(text)
    if len(distinct) * 4 > len(text):
        return convert(text)
    return pc.take(convert(distinct), pc.index_in(text, value_set=distinct))


def read_csv(
    path: str | Path,
    schema: Schema | Field,
    *,
    formats: Mapping[str, str] | None = None,
    unknown_columns: Literal["ignore", "error"] = "ignore",
    max_errors_per_column: int = 100,
) -> Coercion:
    """Read a CSV file whose header holds dotted field paths and coerce it (`coerce_table`).

    Every column is read as text first so that a bad cell is reported, not a failed file.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    table = pa_csv.read_csv(
        path,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
        ),
    )
    return coerce_table(
        schema,
        table,
        formats=formats,
        unknown_columns=unknown_columns,
        max_errors_per_column=max_errors_per_column,
    )
