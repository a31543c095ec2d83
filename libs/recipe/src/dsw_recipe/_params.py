"""Typed hyperparameter specs: defaults, JSON Schema export and validation with per-field errors."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Param",
    "ParamError",
    "ParamSpec",
    "ParamType",
    "ParamValidationError",
    "ParamValue",
]

ParamType: TypeAlias = Literal["integer", "number", "string", "boolean"]
ParamValue: TypeAlias = int | float | str | bool

_JSON_TYPES: dict[str, str] = {
    "integer": "integer",
    "number": "number",
    "string": "string",
    "boolean": "boolean",
}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class ParamError:
    """One problem with one parameter: which field, what is wrong, and the offending value."""

    field: str
    message: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the shape the registry's `errors` list uses)."""
        return {"field": self.field, "message": self.message, "value": self.value}


class ParamValidationError(ValueError):
    """A parameter set does not satisfy a spec; `errors` lists every problem, one per field."""

    def __init__(self, errors: list[ParamError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, default, allowed range or choices, and what it does.

    `minimum`/`maximum` are inclusive unless `exclusive_minimum`/`exclusive_maximum` is set.
    `choices` restricts the value to a fixed set (any type).
    """

    name: str
    type: ParamType
    default: ParamValue
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[ParamValue, ...] | None = None

    def __post_init__(self) -> None:
        # A spec whose own default is invalid is a programming error: fail at import time.
        problem = self.check(self.default)
        if problem is not None:
            raise ValueError(f"default of parameter {self.name!r} is invalid: {problem}")

    def to_json_schema(self) -> dict[str, Any]:
        """JSON Schema (2020-12) of this parameter's value."""
        schema: dict[str, Any] = {
            "type": _JSON_TYPES[self.type],
            "default": self.default,
            "description": self.description,
        }
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.choices is not None:
            schema["enum"] = list(self.choices)
        return schema

    def coerce(self, value: Any) -> Any:
        """Parse text into this parameter's type (DSW configs carry every value as a string).

        Values that are not strings, and strings that do not parse, are returned unchanged so
        that `check` reports them.
        """
        if not isinstance(value, str) or self.type == "string":
            return value
        text = value.strip()
        if self.type == "boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            return value
        try:
            number = float(text)
        except ValueError:
            return value
        if self.type == "integer":
            return int(number) if number.is_integer() else value
        return number

    def check(self, value: Any) -> str | None:
        """The problem with `value`, or None when it is valid."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                return f"expected a boolean, got {type(value).__name__}"
        elif self.type == "string":
            if not isinstance(value, str):
                return f"expected a string, got {type(value).__name__}"
        elif self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"expected an integer, got {type(value).__name__}"
        elif isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        elif not math.isfinite(value):
            return "expected a finite number"
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(choice) for choice in self.choices)
            return f"must be one of {allowed}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None:
                if self.exclusive_minimum and not value > self.minimum:
                    return f"must be greater than {self.minimum}"
                if not self.exclusive_minimum and not value >= self.minimum:
                    return f"must be at least {self.minimum}"
            if self.maximum is not None:
                if self.exclusive_maximum and not value < self.maximum:
                    return f"must be less than {self.maximum}"
                if not self.exclusive_maximum and not value <= self.maximum:
                    return f"must be at most {self.maximum}"
        return None


@dataclass(frozen=True)
class ParamSpec:
    """The hyperparameters a recipe accepts, in declaration order."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [param.name for param in self.params]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate parameter names: {', '.join(duplicates)}")

    @classmethod
    def of(cls, *params: Param) -> ParamSpec:
        """`ParamSpec.of(Param(...), Param(...))`."""
        return cls(tuple(params))

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def names(self) -> list[str]:
        """Parameter names in declaration order."""
        return [param.name for param in self.params]

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter at its default."""
        return {param.name: param.default for param in self.params}

    def to_json_schema(self, *, title: str | None = None) -> dict[str, Any]:
        """JSON Schema (2020-12) of a parameter set: an object of the declared, optional keys."""
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {param.name: param.to_json_schema() for param in self.params},
            "additionalProperties": False,
        }
        if title is not None:
            schema["title"] = title
        return schema

    def errors(self, values: Mapping[str, Any], *, coerce: bool = False) -> list[ParamError]:
        """Every problem with `values` (unknown names, wrong types, out of range); [] if valid."""
        problems: list[ParamError] = []
        known = {param.name: param for param in self.params}
        for name, value in values.items():
            param = known.get(name)
            if param is None:
                problems.append(ParamError(name, "unknown parameter", value))
                continue
            candidate = param.coerce(value) if coerce else value
            problem = param.check(candidate)
            if problem is not None:
                problems.append(ParamError(name, problem, value))
        return problems

    def validate(
        self, values: Mapping[str, Any] | None = None, *, coerce: bool = False
    ) -> dict[str, ParamValue]:
        """The complete parameter set: defaults overlaid with `values`, checked.

        With `coerce`, string values are parsed into the declared types first ("0.1" -> 0.1), as
        DSW-style configs send every value as text. Raises `ParamValidationError` listing every
        invalid field.
        """
        given = dict(values or {})
        problems = self.errors(given, coerce=coerce)
        if problems:
            raise ParamValidationError(problems)
        resolved = self.defaults()
        for name, value in given.items():
            param = self[name]
            candidate = param.coerce(value) if coerce else value
            # An int given for a number parameter is stored as float so recipes see one type.
            resolved[name] = float(candidate) if param.type == "number" else candidate
        return resolved

    def merged(self, other: Iterable[Param]) -> ParamSpec:
        """This spec plus `other` (names must not collide)."""
        return ParamSpec((*self.params, *other))
