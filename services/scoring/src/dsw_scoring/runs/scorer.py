"""The scoring loop: input Parquet in bounded chunks -> features -> predictions -> Parquet out.

Memory stays flat in the dataset size: one chunk of ``chunk_rows`` rows (only the columns the
model reads) is in memory at a time, and the output is appended to one Parquet file as it goes.
LightGBM models go straight to the booster with their NumPy feature builder (``fast_path``);
others (ranking) through the recipe's own ``prepare`` + ``score`` per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dsw_recipe import InputField, LoadedModel, RecipeDataError, resolve_fields
from pyarrow import fs

logger = logging.getLogger("dsw.scoring.scorer")

# Recipe input type -> Arrow type of an output column (what the catalog stores that XDM type as).
_OUTPUT_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "date-time": pa.timestamp("us", tz="UTC"),
}


class ScoringStopped(Exception):
    """The run was cancelled (or its worker is stopping) between two chunks."""


@dataclass
class ScoringPlan:
    """What to score and how the output looks; everything pinned when the run was requested."""

    files: list[str]  # lake paths (not URIs) of the input's Parquet files
    inputs: list[InputField]
    input_columns: dict[str, str]  # model input or key column -> dotted input column
    key_columns: list[str]
    output_columns: dict[str, str]  # key or prediction column -> dotted output column
    output_types: dict[str, str]  # key or prediction column -> recipe type
    window_field: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    chunk_rows: int = 262_144

    def output_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(self.output_columns[name], _OUTPUT_TYPES[kind])
                for name, kind in self.output_types.items()
            ]
        )


@dataclass
class ScoringOutcome:
    rows_read: int = 0
    rows_scored: int = 0
    bytes_written: int = 0


Progress = Callable[[int, int], None]  # (rows read, rows scored) so far; may raise to stop


def _flat(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _read_columns(file: pq.ParquetFile, plan: ScoringPlan) -> list[str]:
    """The dotted columns of ``file`` the plan reads (absent optional inputs are nulls)."""
    present = set(file.schema_arrow.names) | {
        column.path for column in (file.schema.column(i) for i in range(len(file.schema)))
    }
    return sorted({column for column in plan.input_columns.values() if column in present})


def iter_chunks(
    filesystem: fs.FileSystem, plan: ScoringPlan
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(raw rows with the model's input names, the same rows resolved to the model's types)."""
    names = [field.name for field in plan.inputs]
    extra_keys = [name for name in plan.key_columns if name not in names]
    for path in plan.files:
        with filesystem.open_input_file(path) as source:
            parquet = pq.ParquetFile(source)
            columns = _read_columns(parquet, plan)
            for batch in parquet.iter_batches(batch_size=plan.chunk_rows, columns=columns):
                flat = _flat(pa.Table.from_batches([batch]))
                raw = {
                    name: flat[plan.input_columns[name]]
                    for name in [*names, *extra_keys]
                    if plan.input_columns.get(name) in flat.column_names
                }
                table = pa.table(raw) if raw else pa.table({"_": pa.nulls(flat.num_rows)})
                yield table, resolve_fields(table, plan.inputs)


def _window_mask(resolved: pa.Table, plan: ScoringPlan) -> pa.Array | None:
    if plan.window_field is None:
        return None
    times = resolved[plan.window_field]
    mask = pc.is_valid(times)
    for bound, compare in ((plan.window_start, pc.greater_equal), (plan.window_end, pc.less)):
        if bound is not None:
            # Recipes see times as naive UTC timestamps.
            scalar = pa.scalar(bound.astimezone(UTC).replace(tzinfo=None), times.type)
            mask = pc.and_(mask, compare(times, scalar))
    return mask


def _column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table[name].to_numpy(zero_copy_only=False))


class Scorer:
    """Scores a plan's files with one loaded model into one Parquet file."""

    def __init__(self, model: LoadedModel, plan: ScoringPlan) -> None:
        self.model = model
        self.plan = plan
        self.fast_path = model.fast_path
        self.schema = plan.output_schema()

    def predictions(self, raw: pa.Table, resolved: pa.Table) -> pa.Table:
        """The output rows (key columns + predictions) of one chunk, named as the output."""
        plan = self.plan
        if self.fast_path is not None:
            columns = {name: _column(resolved, name) for name in resolved.column_names}
            predicted = np.asarray(self.fast_path.predict(columns), dtype=np.float64)
            values: dict[str, Any] = {name: raw[name] for name in plan.key_columns}
            values["prediction"] = pa.array(predicted, pa.float64())
        else:
            scored = self.model.score(raw)
            values = {
                name: scored[name] for name in plan.output_types if name in scored.column_names
            }
        arrays = []
        for name, kind in plan.output_types.items():
            target = _OUTPUT_TYPES[kind]
            array = values.get(name)
            if array is None:
                arrays.append(pa.nulls(len(next(iter(values.values()))), target))
                continue
            if kind in ("date", "date-time") and not pa.types.is_date(array.type):
                array = resolved[name] if name in resolved.column_names else array
            arrays.append(pc.cast(array, target))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def run(
        self, filesystem: fs.FileSystem, destination: str, progress: Progress
    ) -> ScoringOutcome:
        """Score everything into ``destination`` (a lake path); ``progress`` after each chunk."""
        outcome = ScoringOutcome()
        with (
            filesystem.open_output_stream(destination) as sink,
            pq.ParquetWriter(sink, self.schema, compression="snappy") as writer,
        ):
            for raw, resolved in iter_chunks(filesystem, self.plan):
                outcome.rows_read += raw.num_rows
                mask = _window_mask(resolved, self.plan)
                if mask is not None:
                    raw, resolved = raw.filter(mask), resolved.filter(mask)
                if raw.num_rows:
                    out = self.predictions(raw, resolved)
                    writer.write_table(out)
                    outcome.rows_scored += out.num_rows
                progress(outcome.rows_read, outcome.rows_scored)
        outcome.bytes_written = filesystem.get_file_info(destination).size or 0
        return outcome


__all__ = ["RecipeDataError", "Scorer", "ScoringOutcome", "ScoringPlan", "ScoringStopped"]
