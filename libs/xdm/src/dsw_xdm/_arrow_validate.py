"""Vectorised validation of Arrow tables and record batches (the ingestion path).

Every check is one pyarrow.compute kernel over a whole column; nested structs are entered with
`StructArray.flatten` (which folds the parent's nulls into the children) and lists / maps by
flattening their values while carrying, per value, the row it came from and its list index or
map key. Python only loops over fields of the schema and over the capped sample of violations,
never over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ._fields import INTEGER_TYPES, Field
from ._formats import FORMAT_PATTERNS, valid_calendar_day
from ._schema import Schema
from ._validate import UnknownFields, json_pointer

__all__ = ["RowViolation", "TableValidation", "validate_table"]


@dataclass(frozen=True)
class RowViolation:
    """A violation in row `row` (0-based, across the whole table) of validated data."""

    row: int
    path: str
    rule: str
    message: str


@dataclass
class TableValidation:
    """Result of `validate_table`.

    `valid` has one boolean per row (True = the row passed every check). `violations` holds at
    most `max_violations_per_batch` violations for each record batch; `violation_count` counts all
    of them, reported or not.
    """

    valid: pa.BooleanArray
    violations: list[RowViolation] = field(default_factory=list)
    violation_count: int = 0

    @property
    def ok(self) -> bool:
        """True when every row is valid."""
        return self.violation_count == 0

    @property
    def invalid_row_count(self) -> int:
        """How many rows failed at least one check."""
        return len(self.valid) - int(pc.sum(self.valid).as_py() or 0)

    def valid_rows(self, data: pa.Table) -> pa.Table:
        """The rows of `data` (the validated table) that passed."""
        return data.filter(self.valid)


def validate_table(
    schema: Schema | Field,
    data: pa.Table | pa.RecordBatch,
    *,
    max_violations_per_batch: int = 100,
    unknown_fields: UnknownFields = "ignore",
) -> TableValidation:
    """Validate every row of an Arrow table or record batch against a schema, vectorised.

    Columns are stored-form top-level fields (structs for objects, lists for arrays, maps for
    maps). Checks: Arrow type compatible with the XDM type, required, enum, minimum/maximum
    (including integer widths), minLength/maxLength, pattern, formats (date and date-time strings
    are parsed, including the day of month), minItems/maxItems, null array items / map values.
    Gives the same violations as `validate_record` on each row as a dict (tested property).
    """
    root = schema.root if isinstance(schema, Schema) else schema
    batches = [data] if isinstance(data, pa.RecordBatch) else data.to_batches()
    masks: list[pa.Array] = []
    violations: list[RowViolation] = []
    count = 0
    offset = 0
    for batch in batches:
        checker = _BatchChecker(batch.num_rows, offset, max_violations_per_batch, unknown_fields)
        struct = pa.StructArray.from_arrays(batch.columns, names=batch.schema.names)
        checker.check(root, struct, _Context(None, ()), ())
        masks.append(checker.valid_mask())
        violations.extend(checker.violations)
        count += checker.count
        offset += batch.num_rows
    valid = pa.concat_arrays(masks) if masks else pa.array([], pa.bool_())
    return TableValidation(valid=valid, violations=violations, violation_count=count)


def _all(length: int, value: bool) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), value)


def _arange(length: int) -> pa.Array:
    """0..length-1 as int64, without a Python loop (pyarrow has no arange kernel)."""
    if length == 0:
        return pa.array([], pa.int64())
    return pc.cast(pc.indices_nonzero(_all(length, True)), pa.int64())


@dataclass(frozen=True)
class _Context:
    """Where the values being checked come from: their rows, and list indices / map keys."""

    rows: pa.Array | None  # row of each value; None when values are the rows themselves
    keys: tuple[pa.Array, ...]  # one array per list/map level crossed, aligned with the values


_Path = tuple[str | None, ...]  # None stands for "the next list index or map key"


class _BatchChecker:
    def __init__(self, num_rows: int, offset: int, cap: int, unknown: UnknownFields) -> None:
        self.num_rows = num_rows
        self.offset = offset
        self.cap = cap
        self.unknown = unknown
        self.count = 0
        self.violations: list[RowViolation] = []
        self._direct: pa.Array | None = None  # row-aligned invalid flags
        self._nested: list[pa.Array] = []  # row numbers of invalid values below lists/maps

    def valid_mask(self) -> pa.Array:
        bad = self._direct if self._direct is not None else _all(self.num_rows, False)
        if self._nested:
            rows = pa.concat_arrays(self._nested)
            bad = pc.or_(bad, pc.is_in(_arange(self.num_rows), value_set=rows))
        return pc.invert(bad)

    # -- reporting -----------------------------------------------------------------------------

    def report(
        self,
        context: _Context,
        invalid: pa.Array,
        path: _Path,
        rule: str,
        message: str | Callable[[Any], str],
        values: pa.Array | None = None,
    ) -> None:
        invalid = pc.fill_null(invalid, False)
        positions = pc.indices_nonzero(invalid)
        found = len(positions)
        if found == 0:
            return
        self.count += found
        if context.rows is None:
            self._direct = invalid if self._direct is None else pc.or_(self._direct, invalid)
        else:
            self._nested.append(pc.take(context.rows, positions))
        room = self.cap - len(self.violations)
        if room <= 0:
            return
        sample = positions.slice(0, room)
        rows = sample if context.rows is None else pc.take(context.rows, sample)
        keys = [pc.take(key, sample).to_pylist() for key in context.keys]
        shown = pc.take(values, sample).to_pylist() if values is not None else None
        for i, row in enumerate(rows.to_pylist()):
            crossed = iter(key[i] for key in keys)
            pointer = json_pointer([next(crossed) if p is None else p for p in path])
            text = (
                message(shown[i] if shown is not None else None) if callable(message) else message
            )
            self.violations.append(RowViolation(int(row) + self.offset, pointer, rule, text))

    def type_error(self, context: _Context, array: pa.Array, path: _Path, field: Field) -> None:
        self.report(
            context,
            pc.is_valid(array),
            path,
            "type",
            f"column type {array.type} cannot hold a {field.xdm_type}",
        )

    # -- checks --------------------------------------------------------------------------------

    def check(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        if array.null_count == len(array):
            # Nothing present, nothing to check (a parent reports its required children): the
            # many optional fields of the standard's field groups cost nothing when unused.
            return
        kind = field.xdm_type
        if kind == "object":
            self._object(field, array, context, path)
        elif kind == "array":
            self._array(field, array, context, path)
        elif kind == "map":
            self._map(field, array, context, path)
        else:
            self._scalar(field, array, context, path)

    def _object(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        if not pa.types.is_struct(array.type):
            self.type_error(context, array, path, field)
            return
        names = [array.type.field(i).name for i in range(array.type.num_fields)]
        children = dict(zip(names, array.flatten(), strict=True))
        present = pc.is_valid(array)
        for name in field.required:
            child = children.get(name)
            missing = present if child is None else pc.and_(present, pc.is_null(child))
            self.report(context, missing, (*path, name), "required", f"{name!r} is required")
        for name, child in children.items():
            definition = field.properties.get(name)
            if definition is not None:
                self.check(definition, child, context, (*path, name))
            elif self.unknown == "error":
                self.report(
                    context,
                    pc.is_valid(child),
                    (*path, name),
                    "unknownField",
                    f"{name!r} is not defined by the schema",
                )

    def _entries(self, array: pa.Array, context: _Context) -> tuple[pa.Array, _Context, pa.Array]:
        """Values of a list/map array with their rows; also each value's index in its list."""
        offsets = pc.cast(array.offsets, pa.int64())
        first = offsets[0].as_py()
        values = array.values.slice(first, offsets[-1].as_py() - first)
        parents = pc.cast(pc.list_parent_indices(array), pa.int64())
        index = pc.subtract(_arange(len(values)), pc.subtract(pc.take(offsets, parents), first))
        if array.null_count:
            # Values behind a null list are not data (Arrow allows them): drop them.
            keep = pc.take(pc.is_valid(array), parents)
            values, parents, index = (pc.filter(a, keep) for a in (values, parents, index))
        rows = parents if context.rows is None else pc.take(context.rows, parents)
        keys = tuple(pc.take(key, parents) for key in context.keys)
        return values, _Context(rows, keys), index

    def _array(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            self.type_error(context, array, path, field)
            return
        if field.min_items is not None or field.max_items is not None:
            lengths = pc.list_value_length(array)
            if field.min_items is not None:
                self.report(
                    context,
                    pc.less(lengths, field.min_items),
                    path,
                    "minItems",
                    lambda n: f"{n} items, at least {field.min_items} required",
                    lengths,
                )
            if field.max_items is not None:
                self.report(
                    context,
                    pc.greater(lengths, field.max_items),
                    path,
                    "maxItems",
                    lambda n: f"{n} items, at most {field.max_items} allowed",
                    lengths,
                )
        values, inner, index = self._entries(array, context)
        inner = _Context(inner.rows, (*inner.keys, index))
        assert field.items is not None
        self.report(inner, pc.is_null(values), (*path, None), "type", "array items may not be null")
        self.check(field.items, values, inner, (*path, None))

    def _map(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        if not pa.types.is_map(array.type) or not pa.types.is_string(array.type.key_type):
            self.type_error(context, array, path, field)
            return
        # Seen as list<struct<key, value>>: pyarrow 26 aborts on list kernels applied to maps.
        entry = pa.struct([("key", array.type.key_type), ("value", array.type.item_type)])
        entries, inner, _ = self._entries(pc.cast(array, pa.list_(entry)), context)
        keys, values = entries.field(0), entries.field(1)
        inner = _Context(inner.rows, (*inner.keys, keys))
        assert field.values is not None
        self.report(inner, pc.is_null(values), (*path, None), "type", "map values may not be null")
        self.check(field.values, values, inner, (*path, None))

    def _scalar(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        kind = field.xdm_type
        arrow_type = array.type
        is_text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
        if kind == "boolean":
            if not pa.types.is_boolean(arrow_type):
                self.type_error(context, array, path, field)
                return
        elif kind == "number" or kind in INTEGER_TYPES:
            if not self._numeric(field, array, context, path):
                return
        elif kind == "date":
            if pa.types.is_date(arrow_type):
                return
            if not is_text:
                self.type_error(context, array, path, field)
                return
            self._format(array, "date", context, path, "is not a date (YYYY-MM-DD)")
            return
        elif kind == "date-time":
            if pa.types.is_timestamp(arrow_type):
                return
            if not is_text:
                self.type_error(context, array, path, field)
                return
            self._format(array, "date-time", context, path, "is not an RFC 3339 date-time")
            return
        else:
            if not is_text:
                self.type_error(context, array, path, field)
                return
            self._string(field, array, context, path)
        if field.enum is not None:
            self.report(
                context,
                pc.invert(_is_in(array, field.enum)),
                path,
                "enum",
                lambda v: f"{v!r} is not one of {list(field.enum or ())}",
                array,
            )

    def _numeric(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> bool:
        arrow_type = array.type
        kind = field.xdm_type
        if pa.types.is_floating(arrow_type):
            bad = pc.invert(pc.is_finite(array))
            if kind != "number":
                bad = pc.or_(bad, pc.not_equal(pc.floor(array), array))
            bad = pc.fill_null(bad, False)
            self.report(context, bad, path, "type", lambda v: f"expected a {kind}, got {v}", array)
            if pc.any(bad).as_py():
                array = pc.if_else(bad, pa.scalar(None, arrow_type), array)
        elif not pa.types.is_integer(arrow_type):
            self.type_error(context, array, path, field)
            return False
        if field.minimum is not None:
            self.report(
                context,
                pc.less(array, field.minimum),
                path,
                "minimum",
                lambda v: f"{v} is less than {field.minimum}",
                array,
            )
        if field.maximum is not None:
            self.report(
                context,
                pc.greater(array, field.maximum),
                path,
                "maximum",
                lambda v: f"{v} is greater than {field.maximum}",
                array,
            )
        return True

    def _format(
        self, array: pa.Array, string_format: str, context: _Context, path: _Path, text: str
    ) -> None:
        matched = pc.match_substring_regex(array, FORMAT_PATTERNS[string_format])
        if string_format in ("date", "date-time"):
            candidates = pc.if_else(matched, array, pa.scalar(None, array.type))
            matched = pc.and_(matched, pc.fill_null(valid_calendar_day(candidates), False))
        self.report(context, pc.invert(matched), path, "format", lambda v: f"{v!r} {text}", array)

    def _string(self, field: Field, array: pa.Array, context: _Context, path: _Path) -> None:
        if field.min_length is not None or field.max_length is not None:
            lengths = pc.utf8_length(array)
            if field.min_length is not None:
                self.report(
                    context,
                    pc.less(lengths, field.min_length),
                    path,
                    "minLength",
                    lambda n: f"length {n} < {field.min_length}",
                    lengths,
                )
            if field.max_length is not None:
                self.report(
                    context,
                    pc.greater(lengths, field.max_length),
                    path,
                    "maxLength",
                    lambda n: f"length {n} > {field.max_length}",
                    lengths,
                )
        if field.pattern is not None:
            self.report(
                context,
                pc.invert(pc.match_substring_regex(array, field.pattern)),
                path,
                "pattern",
                lambda v: f"{v!r} does not match {field.pattern!r}",
                array,
            )
        if field.format is not None:
            self._format(array, field.format, context, path, f"is not a valid {field.format}")


def _is_in(array: pa.Array, allowed: tuple[Any, ...]) -> pa.Array:
    try:
        value_set = pa.array(list(allowed), type=array.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        # Enum values of another type than the column: compare as text (rare, correct enough).
        return pc.is_in(pc.cast(array, pa.string()), value_set=pa.array([str(v) for v in allowed]))
    result: pa.Array = pc.is_in(array, value_set=value_set)
    return pc.if_else(pc.is_valid(array), result, pa.scalar(None, pa.bool_()))
