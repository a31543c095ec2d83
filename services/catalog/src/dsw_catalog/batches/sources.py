"""Reading uploaded files block by block: CSV, JSON Lines, JSON arrays and Parquet, plain or gzip.

Each reader yields :class:`Block`s: the rows of one block converted to the schema's stored form
(nested Arrow), which of them are valid so far, and the row errors found while parsing and
converting. Problems that make a whole file unusable raise :class:`FileRejected` with a message
meant for the person who uploaded it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from dsw_xdm import (
    CellError,
    ConversionError,
    Schema,
    coerce_table,
    feature_columns,
    flatten_record,
    flatten_table,
    match_name,
    to_arrow_schema,
    unflatten_record,
    unflatten_table,
    validate_record,
)
from dsw_xdm import Field as XdmField

InputFormat = Literal["csv", "jsonl", "json", "parquet"]
_JSON_BLOCK_ROWS = 20_000
_CONVERT_THREADS = 2  # CSV blocks converted at once


class FileRejected(Exception):
    """A file cannot be ingested at all (the message says why)."""


@dataclass
class RowError:
    """One rejected row: where it is and what is wrong."""

    file: str
    row: int
    path: str
    rule: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "path": self.path,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass
class Block:
    """Rows of one block in stored form, their validity so far, and parse/convert errors."""

    table: pa.Table
    valid: pa.BooleanArray
    errors: list[RowError] = field(default_factory=list)
    # 1-based row number (line in the file for CSV) of each row, for later violations.
    row_numbers: pa.Array | None = None
    skipped_rows: int = 0
    # Columns (top-level names) not in the schema, dropped, and how many rows had them.
    dropped: dict[str, int] = field(default_factory=dict)


class _LimitedInflate(io.RawIOBase):
    """A gzip stream that refuses to inflate past a size or ratio (gzip bombs)."""

    def __init__(
        self, raw: BinaryIO, name: str, compressed_size: int, max_bytes: int, max_ratio: float
    ) -> None:
        self._inner = gzip.GzipFile(fileobj=raw, mode="rb")
        self._name = name
        self._limit = min(max_bytes, int(max(compressed_size, 1) * max_ratio) + 1024 * 1024)
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._inner.read(len(buffer))
        except (OSError, EOFError, zlib.error) as error:
            raise FileRejected(f"{self._name} is not a valid gzip file: {error}") from error
        self._seen += len(data)
        if self._seen > self._limit:
            raise FileRejected(
                f"{self._name} inflates past {self._limit} bytes (a decompression bomb?); "
                "split it or upload it uncompressed"
            )
        buffer[: len(data)] = data
        return len(data)


class _RawReader(io.RawIOBase):
    """A Python raw stream over any object with ``read(n)`` (pyarrow's NativeFile among them)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_input(
    raw: Any,
    name: str,
    *,
    compression: str,
    compressed_size: int,
    max_bytes: int,
    max_ratio: float,
) -> BinaryIO:
    """The uploaded bytes as a buffered Python stream, inflated with limits when gzip."""
    source: io.RawIOBase = _RawReader(raw)
    if compression == "gzip":
        source = _LimitedInflate(
            io.BufferedReader(source), name, compressed_size, max_bytes, max_ratio
        )
    return io.BufferedReader(source, buffer_size=1024 * 1024)


@dataclass(frozen=True)
class CsvOptions:
    """How CSV headers map to fields, and how text is read as dates (any format of file).

    ``formats`` apply to text in every format: CSV cells, and the text values of JSON, JSON
    Lines and Parquet files in fields that are not strings (a date written ``2/5/10``, a number
    or a boolean written as text), with the same rules as CSV.
    """

    column_mapping: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    # Problems kept per column of a block: the batch's error report keeps this many in all.
    max_errors: int = 10_000


def read_blocks(
    stream: BinaryIO,
    name: str,
    *,
    input_format: InputFormat,
    schema: Schema,
    unknown_columns: str,
    block_bytes: int,
    csv_options: CsvOptions | None = None,
) -> Iterator[Block]:
    """Blocks of ``stream`` (one uploaded file) converted to ``schema``."""
    options = csv_options or CsvOptions()
    if input_format == "csv":
        yield from _csv_blocks(stream, name, schema, unknown_columns, block_bytes, options)
    elif input_format == "jsonl":
        yield from _json_blocks(_json_lines(stream, name), name, schema, unknown_columns, options)
    elif input_format == "json":
        yield from _json_blocks(_json_array(stream, name), name, schema, unknown_columns, options)
    else:
        yield from _parquet_blocks(stream, name, schema, unknown_columns, options)


# -- CSV ---------------------------------------------------------------------------------------


def _csv_header(stream: BinaryIO, name: str) -> tuple[list[str], bytes]:
    first = stream.readline(1024 * 1024)
    if not first:
        raise FileRejected(f"{name} is empty")
    if not first.endswith(b"\n") and len(first) == 1024 * 1024:
        raise FileRejected(f"{name}: the header line is longer than 1 MiB")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejected(f"{name} is not UTF-8 text (header line): {error}") from error
    header = next(csv.reader([text]), [])
    names = [column.strip() for column in header]
    if not names or all(not column for column in names):
        raise FileRejected(f"{name} has no header line")
    if any(not column for column in names):
        raise FileRejected(f"{name}: the header has an empty column name")
    duplicates = sorted({column for column in names if names.count(column) > 1})
    if duplicates:
        raise FileRejected(
            f"{name}: the header names {', '.join(repr(d) for d in duplicates)} more than once; "
            "rename the duplicate columns"
        )
    return names, first


def _is_field(schema: Schema, path: str) -> bool:
    try:
        schema.root.child(path)
    except KeyError:
        return False
    return True


def _field_path(schema: Schema, header: str, mapping: dict[str, str]) -> str:
    """The field a CSV column fills: mapped explicitly, else by the platform's name rule.

    ``dsw_xdm.match_name``: the header itself, else without regard to case, else a tenant field
    (``markdown`` fills ``_retail.markDown``); a header that names no field stays as it is.
    """
    if header in mapping:
        return mapping[header]
    if _is_field(schema, header):
        return header
    return match_name(feature_columns(schema), header) or header


def _unknown(schema: Schema, names: list[str]) -> list[str]:
    return [column for column in names if not _is_field(schema, column)]


def _csv_blocks(
    stream: BinaryIO,
    name: str,
    schema: Schema,
    unknown_columns: str,
    block_bytes: int,
    options: CsvOptions,
) -> Iterator[Block]:
    headers, _ = _csv_header(stream, name)
    names = [_field_path(schema, header, options.column_mapping) for header in headers]
    twice = sorted({column for column in names if names.count(column) > 1})
    if twice:
        raise FileRejected(f"{name}: several columns fill the field(s) {', '.join(twice)}")
    unknown = _unknown(schema, names)
    if unknown and unknown_columns == "reject":
        raise FileRejected(f"{name}: columns not in the schema: {', '.join(unknown)}")
    skipped: list[int] = []
    skipped_errors: list[RowError] = []

    def on_invalid_row(row: pa_csv.InvalidRow) -> str:
        # pyarrow counts from the line after the header, which was read apart.
        line = int(row.number) + 1 if row.number is not None else -1
        skipped.append(line)
        skipped_errors.append(
            RowError(
                name,
                line,
                "",
                "csv",
                f"expected {row.expected_columns} columns, found {row.actual_columns}",
            )
        )
        return "skip"

    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                column_names=names, use_threads=False, block_size=block_bytes
            ),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                include_columns=[column for column in names if column not in unknown],
            ),
        )
        parsed = 0

        def convert(table: pa.Table, lines: pa.Array, errors: list[RowError]) -> Block:
            skipped_here = len(errors)
            coerced = coerce_table(
                schema,
                table,
                formats=options.formats,
                unknown_columns="ignore",
                max_errors_per_column=options.max_errors,
            )
            if coerced.errors:
                line_list = lines.to_pylist()
                errors.extend(
                    RowError(name, line_list[cell.row], _pointer(cell.column), "type", cell.message)
                    for cell in coerced.errors
                )
            dropped = dict.fromkeys(unknown, table.num_rows)
            return Block(coerced.table, coerced.valid, errors, lines, skipped_here, dropped)

        # Blocks are parsed in order here and converted on threads (Arrow's kernels release the
        # GIL), a few at a time: memory stays bounded, and blocks come out in file order.
        with ThreadPoolExecutor(_CONVERT_THREADS, thread_name_prefix="csv-convert") as pool:
            converting: deque[Future[Block]] = deque()
            try:
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    lines = _csv_lines(parsed, table.num_rows, skipped)
                    parsed += table.num_rows
                    errors = skipped_errors[:]  # the lines skipped while parsing this block
                    skipped_errors.clear()
                    converting.append(pool.submit(convert, table, lines, errors))
                    if len(converting) > _CONVERT_THREADS:
                        yield converting.popleft().result()
                while converting:
                    yield converting.popleft().result()
            finally:
                for future in converting:
                    future.cancel()
        if skipped_errors:
            empty = schema_table(schema, 0)
            yield Block(
                empty, pa.array([], pa.bool_()), skipped_errors[:], None, len(skipped_errors)
            )
    except pa.ArrowInvalid as error:
        message = str(error)
        if "UTF8" in message or "utf8" in message.lower():
            raise FileRejected(f"{name} is not valid UTF-8 text: {message}") from error
        raise FileRejected(f"{name} could not be parsed as CSV: {message}") from error
    except ConversionError as error:
        raise FileRejected(f"{name}: {error}") from error


def _pointer(dotted: str) -> str:
    """A dotted field path as a JSON Pointer, the way validation reports paths."""
    return "/" + dotted.replace("~", "~0").replace("/", "~1").replace(".", "/")


def _csv_lines(first_parsed: int, count: int, skipped: list[int]) -> pa.Array:
    """Line numbers (header = line 1) of parsed rows ``first_parsed ..``, skipping bad lines.

    Row ``g`` of the file (0-based) is on the ``g``-th line from line 2 on that was not skipped.
    Vectorised: a Python loop over the rows cost more than parsing them.
    """
    line = first_parsed + 2
    position = 0
    ordered = sorted(skipped)
    # Skipped lines before the first row of this block shift every line number.
    while position < len(ordered) and ordered[position] <= line:
        line += 1
        position += 1
    later = ordered[position:]  # all after ``line``: drop them from the run of lines that follows
    run = pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count + len(later)), start=line - 1)
    if later:
        run = run.filter(pc.invert(pc.is_in(run, value_set=pa.array(later, pa.int64()))))
    return run.slice(0, count)


# -- JSON --------------------------------------------------------------------------------------


def _json_lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, Any]]:
    saw_any = False
    for number, raw in enumerate(stream, start=1):
        saw_any = True
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except UnicodeDecodeError as error:
            raise FileRejected(f"{name} is not valid UTF-8 text (line {number})") from error
        except ValueError as error:
            yield number, _BadJson(str(error))
    if not saw_any:
        raise FileRejected(f"{name} is empty")


def _json_array(stream: BinaryIO, name: str) -> Iterator[tuple[int, Any]]:
    data = stream.read()
    if not data.strip():
        raise FileRejected(f"{name} is empty")
    try:
        document = json.loads(data)
    except UnicodeDecodeError as error:
        raise FileRejected(f"{name} is not valid UTF-8 text") from error
    except ValueError as error:
        raise FileRejected(f"{name} is not valid JSON: {error}") from error
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise FileRejected(f"{name} must hold a JSON array of records (or one record)")
    yield from enumerate(document, start=1)


@dataclass
class _BadJson:
    message: str


def _json_blocks(
    records: Iterator[tuple[int, Any]],
    name: str,
    schema: Schema,
    unknown_columns: str,
    options: CsvOptions,
) -> Iterator[Block]:
    arrow_schema = to_arrow_schema(schema)
    known = set(arrow_schema.names)
    pending: list[tuple[int, Any]] = []

    def block() -> Block:
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        dropped: dict[str, int] = {}
        for _, record in pending:
            if isinstance(record, dict):
                for key in record.keys() - known:
                    dropped[key] = dropped.get(key, 0) + 1
        converted, errors = _convert_json_text(pending, name, schema, options)
        for number, record in converted:
            problem = _json_problem(record, known, unknown_columns, schema)
            if problem is not None:
                errors.append(RowError(name, number, problem[0], problem[1], problem[2]))
                continue
            rows.append(
                {
                    key: _typed(record[key], schema.root.properties[key])
                    for key in record
                    if key in known
                }
            )
            numbers.append(number)
        pending.clear()
        made = _json_block(rows, numbers, errors, arrow_schema)
        made.dropped = dropped if unknown_columns != "reject" else {}
        return made

    for item in records:
        pending.append(item)
        if len(pending) >= _JSON_BLOCK_ROWS:
            yield block()
    if pending:
        yield block()


def _text_fields(schema: Schema) -> dict[str, XdmField]:
    """Scalar fields whose text values are converted like CSV cells (every type but string)."""
    return {
        path: spec
        for path, spec in schema.root.walk()
        if spec.xdm_type not in ("object", "array", "map", "string")
    }


def _convert_json_text(
    records: list[tuple[int, Any]], name: str, schema: Schema, options: CsvOptions
) -> tuple[list[tuple[int, Any]], list[RowError]]:
    """The records with text in non-string fields converted as CSV cells are (by column).

    A converted value goes back as its JSON form (an ISO date, a number, a boolean), so the
    record is then validated and typed like any other; a value that does not convert rejects
    its record with the same message a CSV cell gets.
    """
    fields = _text_fields(schema)
    flat = [
        flatten_record(record, schema) if isinstance(record, dict) else {} for _, record in records
    ]
    texts = {
        path: [row.get(path) if isinstance(row.get(path), str) else None for row in flat]
        for path in fields
        if any(isinstance(row.get(path), str) for row in flat)
    }
    if not texts:
        return records, []
    table = pa.table({path: pa.array(values, pa.string()) for path, values in texts.items()})
    values, valid_mask, cells = _convert_text(table, schema, options)
    valid = valid_mask.to_pylist()
    errors = [
        RowError(name, records[cell.row][0], _pointer(cell.column), "type", cell.message)
        for cell in cells
    ]
    failed_rows = {cell.row for cell in cells}
    kept: list[tuple[int, Any]] = []
    for index, (number, record) in enumerate(records):
        if not valid[index]:
            if index not in failed_rows:  # beyond the reported sample: still say why
                errors.append(RowError(name, number, "", "type", "a text value did not convert"))
            continue
        row = flat[index]
        changed = False
        for path in texts:
            if isinstance(row.get(path), str):
                row[path] = _json_form(values.column(path)[index].as_py())
                changed = True
        kept.append((number, unflatten_record(row, keep_nulls=True) if changed else record))
    return kept, errors


def _json_form(value: Any) -> Any:
    """A converted value as JSON has it (dates and date-times as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(value: Any, spec: XdmField) -> Any:
    """A validated JSON value with dates and date-times as Python objects (what Arrow takes)."""
    if value is None:
        return None
    if spec.xdm_type == "object" and isinstance(value, dict):
        return {
            key: _typed(item, spec.properties[key]) if key in spec.properties else item
            for key, item in value.items()
        }
    if spec.xdm_type == "array" and isinstance(value, list) and spec.items is not None:
        return [_typed(item, spec.items) for item in value]
    if spec.xdm_type == "map" and isinstance(value, dict) and spec.values is not None:
        return {key: _typed(item, spec.values) for key, item in value.items()}
    if spec.format == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if spec.format == "date-time" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return value


def _json_problem(
    record: Any, known: set[str], unknown_columns: str, schema: Schema
) -> tuple[str, str, str] | None:
    if isinstance(record, _BadJson):
        return "", "json", f"not valid JSON: {record.message}"
    if not isinstance(record, dict):
        return "", "json", "a record must be a JSON object"
    unknown = sorted(set(record) - known)
    if unknown and unknown_columns == "reject":
        return "/" + unknown[0], "unknownField", f"{unknown[0]!r} is not a field of the schema"
    violations = validate_record(schema, {key: record[key] for key in record if key in known})
    if violations:
        first = violations[0]
        return first.path, first.rule, first.message
    return None


def _json_block(
    rows: list[dict[str, Any]], numbers: list[int], errors: list[RowError], arrow_schema: pa.Schema
) -> Block:
    table = pa.Table.from_pylist(rows, schema=arrow_schema)
    valid = pa.array([True] * len(rows), pa.bool_())
    return Block(table, valid, errors, pa.array(numbers, pa.int64()), len(errors))


# -- Parquet -----------------------------------------------------------------------------------


def _parquet_blocks(
    stream: BinaryIO, name: str, schema: Schema, unknown_columns: str, options: CsvOptions
) -> Iterator[Block]:
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as error:
        raise FileRejected(f"{name} is not a valid Parquet file: {error}") from error
    names = parquet.schema_arrow.names
    flat = any("." in column for column in names)
    top_level = {column.split(".")[0] for column in names}
    known = set(to_arrow_schema(schema).names)
    unknown = sorted(top_level - known)
    if unknown and unknown_columns == "reject":
        raise FileRejected(f"{name}: columns not in the schema: {', '.join(unknown)}")
    first = 1
    try:
        for batch in parquet.iter_batches(batch_size=65_536):
            table = pa.Table.from_batches([batch])
            if flat:
                table = unflatten_table(table)
            table = table.select([column for column in table.column_names if column in known])
            numbers = pa.array(range(first, first + table.num_rows), pa.int64())
            first += table.num_rows
            block = _parquet_text_converted(table, numbers, name, schema, options)
            block.dropped = dict.fromkeys(unknown, table.num_rows)
            yield block
    except (pa.ArrowInvalid, OSError) as error:
        raise FileRejected(f"{name} could not be read as Parquet: {error}") from error


def _parquet_text_converted(
    table: pa.Table, numbers: pa.Array, name: str, schema: Schema, options: CsvOptions
) -> Block:
    """A Parquet block whose text columns in non-string fields are converted as CSV cells."""
    valid = pc.fill_null(pa.array([True] * table.num_rows), True)
    fields = _text_fields(schema)
    flat = flatten_table(table)
    texts = [
        column
        for column in flat.column_names
        if column in fields
        and (
            pa.types.is_string(flat.schema.field(column).type)
            or pa.types.is_large_string(flat.schema.field(column).type)
        )
    ]
    if not texts:
        return Block(table, valid, [], numbers)
    converted, valid, cells = _convert_text(flat.select(texts), schema, options)
    columns = {
        column: converted.column(column) if column in texts else flat.column(column)
        for column in flat.column_names
    }
    rows = numbers.to_pylist() if cells else []
    errors = [
        RowError(name, rows[cell.row], _pointer(cell.column), "type", cell.message)
        for cell in cells
    ]
    return Block(unflatten_table(pa.table(columns)), valid, errors, numbers)


def _convert_text(
    table: pa.Table, schema: Schema, options: CsvOptions
) -> tuple[pa.Table, pa.Array, list[CellError]]:
    """Text columns (dotted names) converted as CSV cells: (values, valid rows, problems).

    Unlike a CSV cell, a JSON or Parquet value already in the standard form of its type (an ISO
    date) is also accepted when the batch gives a format for the field.
    """
    valid = pc.fill_null(pa.nulls(table.num_rows, pa.bool_()), True)
    columns: dict[str, pa.Array] = {}
    problems: list[CellError] = []
    for column in table.column_names:
        single = table.select([column])
        plain = coerce_table(schema, single, max_errors_per_column=options.max_errors)
        value = flatten_table(plain.table).column(column).combine_chunks()
        ok = plain.valid
        cells = plain.errors
        strptime_format = options.formats.get(column)
        if strptime_format is not None and plain.error_count:
            formatted = coerce_table(
                schema,
                single,
                formats={column: strptime_format},
                max_errors_per_column=options.max_errors,
            )
            other = flatten_table(formatted.table).column(column).combine_chunks()
            value = pc.if_else(plain.valid, value, other)
            ok = pc.or_(plain.valid, formatted.valid)
            read_plainly = plain.valid.to_pylist()
            cells = [cell for cell in formatted.errors if not read_plainly[cell.row]]
        columns[column] = value
        valid = pc.and_(valid, ok)
        problems.extend(cells)
    return pa.table(columns), valid, problems


def schema_table(schema: Schema, rows: int) -> pa.Table:
    """An all-null table of ``rows`` rows with the schema's full Arrow schema."""
    arrow_schema = to_arrow_schema(schema)
    return pa.table({f.name: pa.nulls(rows, f.type) for f in arrow_schema}, schema=arrow_schema)
