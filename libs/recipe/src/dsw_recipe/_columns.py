"""Reading files and mapping their columns onto a recipe's declared input fields.

Datasets reach recipes in several spellings: the DSW retail CSV says `markDown` where the schema
says `markdown`; data exported from a tenant schema prefixes each field with `_tenant.`; the Luma
CSV names `timestamp` twice. These helpers make those differences explicit and uniform.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dsw_xdm import match_name

__all__ = [
    "FieldType",
    "InputField",
    "RecipeDataError",
    "day_numbers",
    "parse_time",
    "read_table",
    "resolve_fields",
]

FieldType: TypeAlias = Literal["string", "integer", "number", "boolean", "date", "date-time"]

# Formats tried, in order, when a time column arrives as text. The first is the DSW retail CSV's.
_TIME_FORMATS = (
    "%m/%d/%y",
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%m/%d/%Y",
)
_TRUE_TEXT = ["true", "t", "yes", "y", "1"]
_FALSE_TEXT = ["false", "f", "no", "n", "0"]
_MICROSECONDS_PER_DAY = 86_400_000_000


class RecipeDataError(ValueError):
    """The data given to a recipe cannot be used: missing fields, unparseable values, no rows."""


@dataclass(frozen=True)
class InputField:
    """A field a recipe reads: flat dotted XDM-style name, XDM scalar type, whether required."""

    name: str
    type: FieldType
    required: bool = True
    description: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
        }


def read_table(path: str | Path) -> pa.Table:
    """Read a CSV (optionally .gz) or Parquet file, or a directory of Parquet files.

    CSV headers that repeat a name keep every column: the second `timestamp` becomes
    `timestamp_2` (the Luma sample's header names `timestamp` twice), so nothing is silently
    dropped and recipes decide what a duplicate means.
    """
    path = Path(path)
    if path.is_dir():
        return ds.dataset(path, format="parquet").to_table()
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return pq.read_table(path)
    if ".csv" in suffixes or ".tsv" in suffixes:
        return _read_csv(path, delimiter="\t" if ".tsv" in suffixes else ",")
    raise RecipeDataError(f"{path.name}: expected a .csv, .csv.gz, .tsv or .parquet file")


def _read_csv(path: Path, *, delimiter: str) -> pa.Table:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), None)
    if not header:
        raise RecipeDataError(f"{path.name}: empty file")
    names = deduplicate_names([name.strip() for name in header])
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter),
        # Leave dates as text: Arrow would read "2/5/10" as a string anyway, but ISO dates would
        # become timestamps in some files and not others; parse_time handles both.
        convert_options=pa_csv.ConvertOptions(timestamp_parsers=[]),
    )


def deduplicate_names(names: Sequence[str]) -> list[str]:
    """`[a, b, a]` -> `[a, b, a_2]` (then `a_3`, ...), skipping names already taken."""
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate, index = name, 2
        while candidate in seen:
            candidate = f"{name}_{index}"
            index += 1
        seen.add(candidate)
        result.append(candidate)
    return result


def find_column(available: Sequence[str], name: str) -> str | None:
    """The column of `available` that holds field `name`: the platform's one name rule.

    See `dsw_xdm.match_name` (exact, then case-insensitive, then after a tenant prefix).
    """
    return match_name(available, name)


def resolve_fields(table: pa.Table, fields: Sequence[InputField]) -> pa.Table:
    """A table with exactly `fields`, named and typed as declared.

    Columns are matched by exact name, then case-insensitively, then after a tenant prefix
    (`_tenant.name`). Optional fields that are absent become all-null columns. Raises
    `RecipeDataError` naming every missing required field and every column that cannot be cast.
    """
    available = table.column_names
    columns: list[pa.Array | pa.ChunkedArray] = []
    missing: list[str] = []
    problems: list[str] = []
    for field in fields:
        source = find_column(available, field.name)
        if source is None:
            if field.required:
                missing.append(field.name)
            columns.append(pa.nulls(table.num_rows, type=arrow_type(field.type)))
            continue
        try:
            columns.append(cast_column(table.column(source), field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, RecipeDataError) as error:
            problems.append(f"{field.name} (from column {source!r}): {error}")
    if missing:
        problems.insert(
            0,
            f"missing required field(s): {', '.join(missing)}; "
            f"available columns: {', '.join(available)}",
        )
    if problems:
        raise RecipeDataError("; ".join(problems))
    return pa.table(columns, names=[field.name for field in fields])


def arrow_type(field_type: FieldType) -> pa.DataType:
    """The Arrow type a recipe sees for an XDM scalar type."""
    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.timestamp("us"),
        "date-time": pa.timestamp("us"),
    }[field_type]


def cast_column(column: pa.Array | pa.ChunkedArray, field_type: FieldType) -> pa.Array:
    """Cast one column to the Arrow type of `field_type`, parsing text where needed."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if field_type in ("date", "date-time"):
        return parse_time(array)
    if field_type == "boolean" and pa.types.is_string(array.type):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(array))
        true = pc.is_in(lowered, value_set=pa.array(_TRUE_TEXT))
        false = pc.is_in(lowered, value_set=pa.array(_FALSE_TEXT))
        unknown = pc.and_(pc.is_valid(array), pc.invert(pc.or_(true, false)))
        if pc.any(unknown).as_py():
            raise RecipeDataError("values that are not booleans")
        return pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
    target = arrow_type(field_type)
    if field_type == "string" and not pa.types.is_string(array.type):
        return pc.cast(array, pa.string())
    return pc.cast(array, target)


def parse_time(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Timestamps (microseconds, UTC, no zone) from timestamps, dates or text in common formats."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_timestamp(array.type):
        if array.type.tz is not None:
            array = pc.cast(array, pa.timestamp("us", tz="UTC"))
            return pa.Array.from_buffers(pa.timestamp("us"), len(array), array.buffers())
        return pc.cast(array, pa.timestamp("us"))
    if pa.types.is_date(array.type):
        return pc.cast(pc.cast(array, pa.date32()), pa.timestamp("us"))
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise RecipeDataError(f"cannot read times from {array.type}")
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    parsed = pa.nulls(len(text), pa.timestamp("us"))
    for time_format in _TIME_FORMATS:
        attempt = pc.strptime(text, format=time_format, unit="us", error_is_null=True)
        if attempt.type.tz is not None:
            attempt = parse_time(attempt)
        parsed = pc.coalesce(parsed, attempt)
        if parsed.null_count == text.null_count:
            break
    if parsed.null_count != text.null_count:
        # Fractional seconds and other ISO 8601 forms: Arrow's cast understands those, so cast
        # the values no format matched and put them back in place.
        left = pc.and_(pc.is_valid(text), pc.is_null(parsed))
        remaining = pc.filter(text, left)
        try:
            cast = parse_time(pc.cast(remaining, pa.timestamp("us", tz="UTC")))
        except pa.ArrowInvalid as error:
            raise RecipeDataError(f"unparseable time(s), e.g. {remaining[0].as_py()!r}") from error
        parsed = pc.replace_with_mask(parsed, left, cast)
    return parsed


def day_numbers(times: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Days since 1970-01-01 (float, NaN for nulls) of a timestamp column."""
    array = times.combine_chunks() if isinstance(times, pa.ChunkedArray) else times
    micros = pc.cast(pc.cast(array, pa.timestamp("us")), pa.int64())
    values = micros.to_numpy(zero_copy_only=False).astype(np.float64)
    if array.null_count:
        values[~np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False))] = np.nan
    days: np.ndarray = values / _MICROSECONDS_PER_DAY
    return days
