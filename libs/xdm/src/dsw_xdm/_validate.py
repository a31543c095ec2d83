"""Validation of one record (a dict in stored form) against a schema."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from ._fields import Field
from ._formats import is_valid_date_string, matches_pattern
from ._schema import Schema

__all__ = ["RULES", "UnknownFields", "Violation", "json_pointer", "validate_record"]

UnknownFields = Literal["ignore", "error"]

# The `rule` of a violation is one of these (JSON Schema keyword names where one exists).
RULES: Final = frozenset(
    {
        "type",
        "required",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "unknownField",
    }
)


@dataclass(frozen=True)
class Violation:
    """One problem in a record: where (JSON Pointer), which rule, and a readable message."""

    path: str
    rule: str
    message: str


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_pointer(parts: list[str | int]) -> str:
    """An RFC 6901 JSON Pointer from path parts: `["a", 0, "b/c"]` -> `/a/0/b~1c`."""
    return "".join("/" + _escape(str(part)) for part in parts)


def validate_record(
    schema: Schema | Field,
    record: Any,
    *,
    unknown_fields: UnknownFields = "ignore",
) -> list[Violation]:
    """Validate one stored-form record; return every violation (empty list = valid).

    A key whose value is None counts as absent. Keys the schema does not define are ignored by
    default (ingestion drops them, as Experience Platform does); `unknown_fields="error"` reports
    them with rule `unknownField`. Standard-form documents must go through `to_stored_form` first.
    """
    root = schema.root if isinstance(schema, Schema) else schema
    violations: list[Violation] = []
    _check(root, record, [], violations, unknown_fields)
    return violations


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check(
    field: Field,
    value: Any,
    path: list[str | int],
    out: list[Violation],
    unknown: UnknownFields,
) -> None:
    kind = field.xdm_type
    if kind == "object":
        if not isinstance(value, Mapping):
            out.append(
                Violation(
                    json_pointer(path), "type", f"expected an object, got {_type_name(value)}"
                )
            )
            return
        for name in field.required:
            if value.get(name) is None:
                out.append(
                    Violation(json_pointer([*path, name]), "required", f"{name!r} is required")
                )
        for name, child_value in value.items():
            if child_value is None:
                continue
            child = field.properties.get(name)
            if child is None:
                if unknown == "error":
                    out.append(
                        Violation(
                            json_pointer([*path, name]),
                            "unknownField",
                            f"{name!r} is not defined by the schema",
                        )
                    )
                continue
            _check(child, child_value, [*path, name], out, unknown)
        return
    if kind == "array":
        if not isinstance(value, list | tuple):
            out.append(
                Violation(json_pointer(path), "type", f"expected an array, got {_type_name(value)}")
            )
            return
        _check_size(field, len(value), path, out)
        assert field.items is not None
        for index, item in enumerate(value):
            if item is None:
                out.append(
                    Violation(json_pointer([*path, index]), "type", "array items may not be null")
                )
            else:
                _check(field.items, item, [*path, index], out, unknown)
        return
    if kind == "map":
        if not isinstance(value, Mapping):
            out.append(
                Violation(json_pointer(path), "type", f"expected a map, got {_type_name(value)}")
            )
            return
        assert field.values is not None
        for key, item in value.items():
            if not isinstance(key, str):
                out.append(
                    Violation(json_pointer([*path, str(key)]), "type", "map keys must be strings")
                )
            elif item is None:
                out.append(
                    Violation(json_pointer([*path, key]), "type", "map values may not be null")
                )
            else:
                _check(field.values, item, [*path, key], out, unknown)
        return
    _check_scalar(field, value, path, out)


def _check_size(field: Field, size: int, path: list[str | int], out: list[Violation]) -> None:
    if field.min_items is not None and size < field.min_items:
        out.append(
            Violation(
                json_pointer(path), "minItems", f"{size} items, at least {field.min_items} required"
            )
        )
    if field.max_items is not None and size > field.max_items:
        out.append(
            Violation(
                json_pointer(path), "maxItems", f"{size} items, at most {field.max_items} allowed"
            )
        )


def _check_scalar(field: Field, value: Any, path: list[str | int], out: list[Violation]) -> None:
    kind = field.xdm_type
    pointer = json_pointer(path)
    if kind == "boolean":
        if not isinstance(value, bool):
            out.append(Violation(pointer, "type", f"expected a boolean, got {_type_name(value)}"))
            return
    elif kind in ("number", "byte", "short", "int", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(Violation(pointer, "type", f"expected a {kind}, got {_type_name(value)}"))
            return
        if isinstance(value, float) and not math.isfinite(value):
            out.append(Violation(pointer, "type", f"{value} is not a finite number"))
            return
        if kind != "number" and isinstance(value, float) and not value.is_integer():
            out.append(Violation(pointer, "type", f"expected a {kind}, got {value}"))
            return
        if field.minimum is not None and value < field.minimum:
            out.append(Violation(pointer, "minimum", f"{value} is less than {field.minimum}"))
        if field.maximum is not None and value > field.maximum:
            out.append(Violation(pointer, "maximum", f"{value} is greater than {field.maximum}"))
    elif kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return
        if not isinstance(value, str):
            out.append(
                Violation(pointer, "type", f"expected a date string, got {_type_name(value)}")
            )
            return
        if not is_valid_date_string(value, "date"):
            out.append(Violation(pointer, "format", f"{value!r} is not a date (YYYY-MM-DD)"))
        return
    elif kind == "date-time":
        if isinstance(value, dt.datetime):
            return
        if not isinstance(value, str):
            out.append(
                Violation(pointer, "type", f"expected a date-time string, got {_type_name(value)}")
            )
            return
        if not is_valid_date_string(value, "date-time"):
            out.append(Violation(pointer, "format", f"{value!r} is not an RFC 3339 date-time"))
        return
    else:
        if not isinstance(value, str):
            out.append(Violation(pointer, "type", f"expected a string, got {_type_name(value)}"))
            return
        length = len(value)
        if field.min_length is not None and length < field.min_length:
            out.append(Violation(pointer, "minLength", f"length {length} < {field.min_length}"))
        if field.max_length is not None and length > field.max_length:
            out.append(Violation(pointer, "maxLength", f"length {length} > {field.max_length}"))
        if field.pattern is not None and not matches_pattern(value, field.pattern):
            out.append(Violation(pointer, "pattern", f"{value!r} does not match {field.pattern!r}"))
        if field.format is not None and not is_valid_date_string(value, field.format):
            out.append(Violation(pointer, "format", f"{value!r} is not a valid {field.format}"))
    if field.enum is not None and value not in field.enum:
        out.append(Violation(pointer, "enum", f"{value!r} is not one of {list(field.enum)}"))
