"""HTML forms generated from a recipe's hyperparameter JSON Schema, and their values read back.

Each property becomes one labelled control: a number input (with the schema's bounds), a select
for an ``enum``, a checkbox for a boolean, a text box for a string, and a JSON text area for
anything else. Values equal to the schema's default are left out, so a model records only what its
author chose; the recipes service validates the rest (its field errors are shown beside the fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PREFIX", "FormField", "fields_of", "parse_values"]

PREFIX = "hp."


@dataclass
class FormField:
    """One control of a generated form."""

    name: str
    kind: str
    description: str = ""
    default: Any = None
    value: str = ""
    checked: bool = False
    minimum: float | None = None
    maximum: float | None = None
    options: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def input_name(self) -> str:
        """The form field's name."""
        return PREFIX + self.name

    @property
    def hint(self) -> str:
        """The allowed range and default, in words."""
        parts = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_text(self.minimum)} to {_text(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f"at least {_text(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"at most {_text(self.maximum)}")
        if self.default is not None:
            parts.append(f"default {_text(self.default)}")
        return ", ".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _kind(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "enum"
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "string")
    if kind in ("integer", "number", "boolean", "string"):
        return str(kind)
    return "json"


def _bound(spec: Mapping[str, Any], inclusive: str, exclusive: str) -> float | None:
    value = spec.get(inclusive, spec.get(exclusive))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value  # an int stays an int, so that hints read "1 to 52", not "1.0 to 52.0"


def fields_of(
    schema: Mapping[str, Any],
    submitted: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """The controls of ``schema``'s properties, filled with ``submitted`` values or defaults."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    errors = errors or {}
    controls = []
    for name, spec in properties.items():
        kind = _kind(spec)
        default = spec.get("default")
        control = FormField(
            name=name,
            kind=kind,
            description=str(spec.get("description", "")),
            default=default,
            minimum=_bound(spec, "minimum", "exclusiveMinimum"),
            maximum=_bound(spec, "maximum", "exclusiveMaximum"),
            options=[_text(option) for option in spec.get("enum", [])],
            error=errors.get(name),
        )
        if submitted is not None:
            control.value = submitted.get(control.input_name, "")
            control.checked = submitted.get(control.input_name) == "on"
        else:
            control.value = "" if default is None else _text(default)
            control.checked = default is True
        controls.append(control)
    return controls


def _parse(kind: str, raw: str, spec: Mapping[str, Any]) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "enum":
        for option in spec.get("enum", []):
            if _text(option) == raw:
                return option
        raise ValueError("choose one of the listed values")
    if kind == "json":
        return json.loads(raw)
    return raw


_MESSAGES = {
    "integer": "must be a whole number",
    "number": "must be a number",
    "json": "must be valid JSON",
}


def parse_values(
    schema: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The hyperparameters a submitted form sets (defaults left out), and errors by field."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in properties.items():
        kind = _kind(spec)
        raw = form.get(PREFIX + name, "")
        if kind == "boolean":
            value: Any = raw == "on"
        elif raw.strip() == "":
            continue  # left empty: the recipe's default applies
        else:
            try:
                value = _parse(kind, raw.strip(), spec)
            except ValueError as error:
                errors[name] = _MESSAGES.get(kind, str(error))
                continue
        if value != spec.get("default", None if kind != "boolean" else False):
            values[name] = value
    return values, errors
