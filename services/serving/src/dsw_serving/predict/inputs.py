"""Request bodies parsed straight into NumPy columns in the model's input order.

No pandas and no pydantic: the body is parsed once by orjson, then each model input becomes one
NumPy array typed as batch scoring passes it to the feature builder (numbers float64, integers
int64, booleans bool, strings object, dates datetime64[us]); a missing or mistyped field is a
422 naming it.

Field names follow the platform's one rule (``dsw_xdm.match_name``): exact, else without regard
to case, else after a tenant namespace, so a record copied from the CSV a dataset was ingested from
(``markDown``, ``IsHoliday``) fits. Values written as text convert as CSV cells do at ingestion:
numbers and integers from decimal text, booleans from true/false, yes/no, y/n, t/f, 1/0 (any
case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from dsw_kit.errors import FieldError, PayloadTooLarge, UnprocessableEntity
from dsw_xdm import match_name

_TRUE = frozenset(("true", "t", "yes", "y", "1"))
_FALSE = frozenset(("false", "f", "no", "n", "0"))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One raw model input: name, XDM scalar type, whether it is required."""

    name: str
    kind: str
    required: bool


class InputError(UnprocessableEntity):
    """The request does not fit the model's inputs (every problem listed)."""


def _invalid(pointer: str, message: str, code: str) -> InputError:
    return InputError(message, errors=[FieldError(pointer=pointer, message=message, code=code)])


def rows_of(body: Any, max_records: int) -> tuple[dict[str, list[Any]], int, str]:
    """(columns by name, row count, form) of a ``records`` or ``columns`` body."""
    if not isinstance(body, dict):
        raise _invalid("/body", "the body must be a JSON object", "invalid_body")
    records = body.get("records")
    if records is not None:
        if not isinstance(records, list) or not all(isinstance(row, dict) for row in records):
            raise _invalid("/body/records", "records must be a list of objects", "invalid_body")
        count = len(records)
        _check_count(count, max_records, "/body/records")
        return _transpose(records), count, "records"
    columns = body.get("columns")
    if columns is not None:
        if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
            raise _invalid("/body/columns", "columns must map each field to a list", "invalid_body")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise _invalid("/body/columns", "every column must be as long", "ragged_columns")
        count = lengths.pop() if lengths else 0
        _check_count(count, max_records, "/body/columns")
        return columns, count, "columns"
    raise _invalid("/body", "send records or columns", "invalid_body")


def top_k_of(body: Any, limit: int) -> int | None:
    """The ``k`` a predict body asks of a ranking model (None: the model's default)."""
    if not isinstance(body, dict):
        return None
    k = body.get("k")
    if k is None:
        return None
    if type(k) is not int or not 1 <= k <= limit:
        raise _invalid("/body/k", f"k must be an integer from 1 to {limit}", "invalid_k")
    return k


def _check_count(count: int, max_records: int, pointer: str) -> None:
    if count == 0:
        raise _invalid(pointer, "send at least one record", "empty")
    if count > max_records:
        raise PayloadTooLarge(
            f"{count} records in one request; at most {max_records}", code="too_many_records"
        )


def _transpose(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    if len(records) == 1:
        return {name: [value] for name, value in records[0].items()}
    columns: dict[str, list[Any]] = {}
    for index, record in enumerate(records):
        for name, value in record.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * index
            column.append(value)
        for column in columns.values():
            if len(column) <= index:
                column.append(None)
    return columns


def to_arrays(
    columns: dict[str, list[Any]], count: int, fields: Sequence[FieldSpec], form: str
) -> dict[str, np.ndarray]:
    """NumPy columns for ``fields`` (422 listing every missing or mistyped field)."""
    arrays: dict[str, np.ndarray] = {}
    problems: list[FieldError] = []
    bad: list[str] = []
    for field in fields:
        values = columns.get(field.name)
        if values is None:
            # Only when the exact name is absent: the common request pays nothing for the rule.
            key = match_name(columns.keys(), field.name)
            values = columns[key] if key is not None else None
        if values is None:
            if field.required:
                bad.append(field.name)
                problems.append(
                    FieldError(
                        pointer=f"/body/{form}/{field.name}",
                        message=f"missing required field {field.name!r} ({field.kind})",
                        code="missing",
                    )
                )
                continue
            values = [None] * count
        try:
            arrays[field.name] = _convert(values, field)
        except (TypeError, ValueError) as error:
            bad.append(field.name)
            problems.append(
                FieldError(
                    pointer=f"/body/{form}/{field.name}",
                    message=f"field {field.name!r} must be {field.kind}: {error}",
                    code="type",
                )
            )
    if problems:
        raise InputError(f"invalid input field(s): {', '.join(bad)}", errors=problems)
    return arrays


def _convert(values: list[Any], field: FieldSpec) -> np.ndarray:
    kind = field.kind
    if field.required and None in values:
        raise ValueError("a value is null")
    if kind == "number":
        if any(type(value) is str for value in values):
            values = [_number_text(item) for item in values]
        for value in values:
            if value is not None and (type(value) is bool or not isinstance(value, int | float)):
                raise TypeError(f"got {type(value).__name__}")
        return np.array(values, dtype=np.float64)
    if kind == "integer":
        if any(type(value) is str for value in values):
            values = [_integer_text(item) for item in values]
        for value in values:
            if value is not None and not _is_integral(value):
                raise TypeError(f"got {value!r}")
        if None in values:
            return np.array(values, dtype=np.float64)
        return np.array(values, dtype=np.int64)
    if kind == "boolean":
        if any(type(value) is str for value in values):
            values = [_boolean_text(item) for item in values]
        for value in values:
            if value is not None and type(value) is not bool:
                raise TypeError(f"got {type(value).__name__}")
        return np.array(values, dtype=object if None in values else np.bool_)
    if kind == "string":
        for value in values:
            if value is not None and type(value) is not str:
                raise TypeError(f"got {type(value).__name__}")
        return np.array(values, dtype=object)
    if kind in ("date", "date-time"):
        return np.array([_moment(value) for value in values], dtype="datetime64[us]")
    raise TypeError(f"unsupported input type {kind}")


def _number_text(value: Any) -> Any:
    if type(value) is not str:
        return value
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _integer_text(value: Any) -> Any:
    if type(value) is not str:
        return value
    text = value.strip()
    if not text.lstrip("+-").isdigit():
        raise ValueError(f"{value!r} is not an integer")
    return int(text)


def _boolean_text(value: Any) -> Any:
    if type(value) is not str:
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false, yes/no, 1/0)")


def _is_integral(value: Any) -> bool:
    if type(value) is int:
        return True
    return type(value) is float and value.is_integer()


def _moment(value: Any) -> np.datetime64:
    if value is None:
        return np.datetime64("NaT")
    if type(value) is not str:
        raise TypeError(f"got {type(value).__name__}, expected an ISO 8601 date")
    if len(value) == 10:
        return np.datetime64(value, "us")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        # Recipes see times as naive UTC.
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(parsed, "us")
