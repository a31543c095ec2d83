"""Ingesting one batch: every file parsed, converted, validated and written as Parquet.

Memory stays bounded by the block size whatever the file size: blocks stream from the upload
through conversion and validation into a Parquet writer. Valid rows go to a staging folder of the
lake, rejected rows to the batch's error report; the caller publishes the staging folder only when
the batch as a whole is accepted.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsw_catalog.batches.sources import (
    Block,
    CsvOptions,
    FileRejected,
    InputFormat,
    RowError,
    open_input,
    read_blocks,
)
from dsw_catalog.batches.statistics import TableStatistics
from dsw_kit.lake import Lake
from dsw_xdm import Schema, to_arrow_schema, validate_table

logger = logging.getLogger("dsw.catalog.ingest")


@dataclass
class Limits:
    """Limits and sizes of one ingestion."""

    max_decompressed_bytes: int
    max_decompression_ratio: float
    max_errors: int
    row_group_rows: int
    block_bytes: int


@dataclass
class UploadedFile:
    """A file of the batch in the lake's upload area."""

    name: str
    path: str
    size: int


@dataclass
class IngestOutcome:
    """What ingesting a batch produced."""

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    bytes_written: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    file_error: str | None = None
    errors_reported: int = 0
    # Columns not in the schema that were dropped, and the rows read with each.
    dropped_columns: dict[str, int] = field(default_factory=dict)


_Nulls = dict[tuple[pa.DataType, int], pa.Array]


def null_array(length: int, target: pa.DataType, shared: _Nulls | None = None) -> pa.Array:
    """An all-null array; with ``shared``, one per type and length (arrays are immutable).

    A wide schema (ExperienceEvent: ~100 leaf fields, most of them absent from a file) would
    otherwise allocate a zero-filled buffer for every absent field of every block.
    """
    if shared is None:
        return pa.nulls(length, target)
    key = (target, length)
    if key not in shared:
        if pa.types.is_struct(target):
            children = [null_array(length, field.type, shared) for field in target]
            every = null_array(length, pa.bool_(), shared)
            mask = pc.is_null(every)  # all true
            shared[key] = pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
        else:
            shared[key] = pa.nulls(length, target)
    return shared[key]


def conform(array: pa.Array, target: pa.DataType, shared: _Nulls | None = None) -> pa.Array:
    """``array`` in exactly the ``target`` type: missing struct fields become nulls."""
    if pa.types.is_struct(target):
        if not pa.types.is_struct(array.type):
            return null_array(len(array), target, shared)
        present = {array.type.field(i).name: i for i in range(array.type.num_fields)}
        children = []
        for index in range(target.num_fields):
            child = target.field(index)
            if child.name in present:
                children.append(conform(array.field(present[child.name]), child.type, shared))
            else:
                children.append(null_array(len(array), child.type, shared))
        mask = pc.is_null(array) if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if pa.types.is_list(target) and pa.types.is_list(array.type):
        values = conform(array.flatten(), target.value_type, shared)
        offsets = array.offsets
        if array.offset or array.null_count:
            array = pa.array(array.to_pylist(), array.type)  # rare: rebuild to normalise offsets
            offsets = array.offsets
            values = conform(array.flatten(), target.value_type, shared)
        mask = pc.is_null(array) if array.null_count else None
        return pa.ListArray.from_arrays(offsets, values, type=target, mask=mask)
    if array.type == target:
        return array
    return pc.cast(array, target, safe=False)


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the columns and types of ``schema`` (missing ones null)."""
    table = table.combine_chunks()
    shared: _Nulls = {}
    columns = []
    for target in schema:
        if target.name in table.column_names:
            column = table.column(target.name)
            chunk = column.chunk(0) if column.num_chunks else pa.array([], column.type)
            columns.append(conform(chunk, target.type, shared))
        else:
            columns.append(null_array(table.num_rows, target.type, shared))
    return pa.Table.from_arrays(columns, schema=schema)


class _ErrorReport:
    """Rejected rows, written as JSON lines to the lake (capped)."""

    def __init__(self, lake: Lake, path: str, cap: int) -> None:
        self.lake, self.path, self.cap = lake, path, cap
        self.lines: list[str] = []
        self.total = 0

    def add(self, errors: list[RowError]) -> None:
        self.total += len(errors)
        room = self.cap - len(self.lines)
        self.lines.extend(json.dumps(error.to_json()) for error in errors[: max(room, 0)])

    def write(self) -> int:
        if not self.lines:
            return 0
        self.lake.make_dirs(self.path.rsplit("/", 1)[0])
        with self.lake.filesystem.open_output_stream(self.path, compression=None) as out:
            out.write(("\n".join(self.lines) + "\n").encode())
        return len(self.lines)


@dataclass
class BatchSpec:
    """What to ingest and how: the batch's files, their format and the dataset's schema."""

    files: list[UploadedFile]
    input_format: InputFormat
    compression: str
    schema: Schema
    unknown_columns: str
    csv_options: CsvOptions
    staging_path: str
    errors_path: str


def ingest(
    lake: Lake,
    spec: BatchSpec,
    limits: Limits,
    cancelled: Callable[[], bool] = lambda: False,
) -> IngestOutcome:
    """Ingest the batch's files into ``spec.staging_path``; rejected rows to the error report."""
    run = _Ingestion(lake, spec, limits)
    lake.delete_dir(spec.staging_path)
    lake.make_dirs(spec.staging_path)
    for index, uploaded in enumerate(sorted(spec.files, key=lambda f: f.name)):
        if cancelled():
            run.outcome.file_error = "the batch was aborted"
            break
        part = f"part-{index:05d}.parquet"
        try:
            written = run.ingest_file(uploaded, f"{spec.staging_path}/{part}")
        except FileRejected as error:
            run.outcome.file_error = str(error)
            break
        if written:
            run.outcome.outputs.append({"file": part, **written})
    run.outcome.statistics = run.statistics.to_json()
    run.outcome.errors_reported = run.report.write()
    return run.outcome


class _Ingestion:
    """The state of one batch's ingestion across its files."""

    def __init__(self, lake: Lake, spec: BatchSpec, limits: Limits) -> None:
        self.lake = lake
        self.spec = spec
        self.limits = limits
        self.arrow_schema = to_arrow_schema(spec.schema)
        self.outcome = IngestOutcome()
        self.report = _ErrorReport(lake, spec.errors_path, limits.max_errors)
        self.statistics = TableStatistics()
        self.written_here = 0  # rows of the file being ingested written so far

    def ingest_file(self, uploaded: UploadedFile, part_path: str) -> dict[str, int] | None:
        """Stream one file into one Parquet part; its rows and bytes (None when no row)."""
        if uploaded.size == 0:
            raise FileRejected(f"{uploaded.name} is empty")
        self.written_here = 0
        writer: pq.ParquetWriter | None = None
        spec, limits = self.spec, self.limits
        if spec.input_format == "parquet" and spec.compression != "none":
            raise FileRejected(
                f"{uploaded.name}: Parquet files compress their pages themselves; "
                "upload them without gzip"
            )
        filesystem = self.lake.filesystem
        with (
            filesystem.open_input_file(uploaded.path)
            if spec.input_format == "parquet"  # Parquet needs random access to its footer
            else filesystem.open_input_stream(uploaded.path, compression=None)
        ) as raw:
            stream = (
                raw
                if spec.input_format == "parquet"
                else open_input(
                    raw,
                    uploaded.name,
                    compression=spec.compression,
                    compressed_size=uploaded.size,
                    max_bytes=limits.max_decompressed_bytes,
                    max_ratio=limits.max_decompression_ratio,
                )
            )
            blocks = read_blocks(
                stream,
                uploaded.name,
                input_format=spec.input_format,
                schema=spec.schema,
                unknown_columns=spec.unknown_columns,
                block_bytes=limits.block_bytes,
                csv_options=spec.csv_options,
            )
            pending: list[pa.Table] = []  # valid rows waiting for a full row group
            pending_rows = 0
            # Row groups are compressed, written and summed up on a thread of their own while
            # the next blocks are read and checked into the next group (memory: two groups).
            writing: deque[Future[None]] = deque()
            with ThreadPoolExecutor(1, thread_name_prefix="parquet-write") as pool:
                try:
                    for block in blocks:
                        good = _check_block(
                            block, spec.schema, uploaded.name, self.report, self.outcome
                        )
                        if good.num_rows == 0:
                            continue
                        pending.append(conform_table(good, self.arrow_schema))
                        pending_rows += good.num_rows
                        if pending_rows < limits.row_group_rows:
                            continue
                        groups = self._take_groups(pending, full_groups_only=True)
                        pending_rows = sum(table.num_rows for table in pending)
                        writer = writer or self._open_writer(part_path)
                        while writing:  # one group written while the next one fills
                            writing.popleft().result()
                        writing.append(pool.submit(self._write, writer, groups))
                    if pending_rows:
                        groups = self._take_groups(pending, full_groups_only=False)
                        writer = writer or self._open_writer(part_path)
                        writing.append(pool.submit(self._write, writer, groups))
                    while writing:
                        writing.popleft().result()
                finally:
                    for future in writing:
                        future.cancel()
                    wait(writing)
                    if writer is not None:
                        writer.close()
            rows_written = self.written_here
        if writer is None:
            return None
        size = self.lake.filesystem.get_file_info(part_path).size or 0
        self.outcome.rows_written += rows_written
        self.outcome.bytes_written += size
        return {"rows": rows_written, "bytes": size}

    def _open_writer(self, part_path: str) -> pq.ParquetWriter:
        return pq.ParquetWriter(
            part_path, self.arrow_schema, filesystem=self.lake.filesystem, compression="zstd"
        )

    def _take_groups(self, pending: list[pa.Table], *, full_groups_only: bool) -> pa.Table:
        """The pending rows that fill whole row groups (all of them when not full-only).

        Blocks are smaller than row groups for wide rows; writing each block as its own row
        group made many small column chunks (slower to write, and to read). What does not fill
        a group stays in ``pending``.
        """
        table = pa.concat_tables(pending)
        pending.clear()
        group = self.limits.row_group_rows
        complete = (table.num_rows // group) * group if full_groups_only else table.num_rows
        if complete < table.num_rows:
            pending.append(table.slice(complete))
        self.written_here += complete
        return table.slice(0, complete)

    def _write(self, writer: pq.ParquetWriter, rows: pa.Table) -> None:
        """Write row groups to the part and add them to the batch's statistics."""
        writer.write_table(rows, row_group_size=self.limits.row_group_rows)
        self.statistics.add(rows)


def _check_block(
    block: Block, schema: Schema, file_name: str, report: _ErrorReport, outcome: IngestOutcome
) -> pa.Table:
    """Validate a block; record its rejected rows; return the valid ones."""
    rows = block.table.num_rows
    outcome.rows_read += rows + block.skipped_rows
    for column, count in block.dropped.items():
        outcome.dropped_columns[column] = outcome.dropped_columns.get(column, 0) + count
    valid = block.valid
    if rows:
        validation = validate_table(schema, block.table, max_violations_per_batch=report.cap)
        valid = pc.and_(valid, validation.valid)
        numbers = (
            block.row_numbers.to_pylist()
            if block.row_numbers is not None and validation.violations
            else None
        )
        # A cell that failed conversion is null now; its "required" violation says nothing new.
        converted = {(error.row, error.path) for error in block.errors}
        for violation in validation.violations:
            row = numbers[violation.row] if numbers else violation.row + 1
            if violation.rule == "required" and (row, violation.path) in converted:
                continue
            block.errors.append(
                RowError(file_name, row, violation.path, violation.rule, violation.message)
            )
    rejected = rows - int(pc.sum(pc.cast(valid, pa.int64())).as_py() or 0) if rows else 0
    outcome.rows_rejected += rejected + block.skipped_rows
    report.add(sorted(block.errors, key=lambda error: error.row))
    return block.table.filter(valid) if rows else block.table
