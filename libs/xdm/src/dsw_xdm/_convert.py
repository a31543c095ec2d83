"""Schema conversions: XDM -> Arrow schema, XDM -> plain JSON Schema (draft 2020-12)."""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from ._exceptions import ConversionError
from ._fields import Field
from ._formats import FORMAT_PATTERNS
from ._schema import Schema

__all__ = ["arrow_type", "to_arrow_schema", "to_json_schema"]

# The XDM -> Parquet type table of Experience Platform (field constraints), in Arrow terms.
_ARROW_SCALARS: Final[dict[str, pa.DataType]] = {
    "string": pa.string(),
    "number": pa.float64(),
    "long": pa.int64(),
    "int": pa.int32(),
    "short": pa.int16(),
    "byte": pa.int8(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "date-time": pa.timestamp("ms", tz="UTC"),
}


def arrow_type(field: Field) -> pa.DataType:
    """The Arrow type storing one XDM field (objects -> structs, arrays -> lists, maps -> maps)."""
    kind = field.xdm_type
    if kind in _ARROW_SCALARS:
        return _ARROW_SCALARS[kind]
    if kind == "object":
        if not field.properties:
            raise ConversionError(f"object field {field.name!r} has no properties for a struct")
        return pa.struct([_arrow_field(child) for child in field.properties.values()])
    if kind == "array":
        assert field.items is not None
        return pa.list_(arrow_type(field.items))
    if kind == "map":
        assert field.values is not None
        return pa.map_(pa.string(), arrow_type(field.values))
    raise ConversionError(f"no Arrow type for XDM type {kind!r}")


def _arrow_field(field: Field) -> pa.Field:
    metadata = {"xdm:type": field.xdm_type}
    if field.title:
        metadata["title"] = field.title
    # Every field is nullable in Arrow: `required` is enforced by validation, which reports it
    # per row instead of failing a whole batch at construction time.
    return pa.field(field.name, arrow_type(field), nullable=True, metadata=metadata)


def to_arrow_schema(schema: Schema | Field) -> pa.Schema:
    """The Arrow schema of a dataset with this XDM schema (stored-form column names).

    Integer widths come from the XDM type (byte int8, short int16, int int32, long int64),
    date -> date32, date-time -> timestamp[ms, UTC], number -> float64.
    """
    root = schema.root if isinstance(schema, Schema) else schema
    fields = [_arrow_field(child) for child in root.properties.values()]
    metadata = {"xdm:schema": schema.id} if isinstance(schema, Schema) else None
    return pa.schema(fields, metadata=metadata)


def to_json_schema(
    schema: Schema | Field, *, additional_properties: bool = True, date_time_patterns: bool = False
) -> dict[str, Any]:
    """A plain JSON Schema (draft 2020-12) of the stored form, for API clients and other tools.

    Integer widths become `minimum`/`maximum`; soft enums become `examples`; `meta:*` keywords are
    dropped. `additional_properties=False` closes every object (like `unknown_fields="error"`).
    `date_time_patterns=True` adds the library's date / date-time regular expressions as
    `pattern`s, for validators that do not check `format`.
    """
    root = schema.root if isinstance(schema, Schema) else schema
    document = _json(root, not additional_properties, date_time_patterns)
    header: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    if isinstance(schema, Schema):
        header["$id"] = schema.id
        header["title"] = schema.title
        if schema.description:
            header["description"] = schema.description
    return {**header, **document}


def _json(field: Field, closed: bool, patterns: bool) -> dict[str, Any]:
    kind = field.xdm_type
    out: dict[str, Any] = {}
    if field.title and field.name:
        out["title"] = field.title
    if field.description:
        out["description"] = field.description
    if kind == "object":
        out["type"] = "object"
        out["properties"] = {
            name: _json(child, closed, patterns) for name, child in field.properties.items()
        }
        if field.required:
            out["required"] = list(field.required)
        if not closed:
            return out
        out["additionalProperties"] = False
    elif kind == "array":
        assert field.items is not None
        out["type"] = "array"
        out["items"] = _json(field.items, closed, patterns)
        if field.min_items is not None:
            out["minItems"] = field.min_items
        if field.max_items is not None:
            out["maxItems"] = field.max_items
    elif kind == "map":
        assert field.values is not None
        out["type"] = "object"
        out["additionalProperties"] = _json(field.values, closed, patterns)
    elif kind in ("date", "date-time"):
        out["type"] = "string"
        out["format"] = kind
        if patterns:
            out["pattern"] = FORMAT_PATTERNS[kind]
    else:
        out["type"] = {"number": "number", "boolean": "boolean", "string": "string"}.get(
            kind, "integer"
        )
        for key, value in (
            ("minimum", field.minimum),
            ("maximum", field.maximum),
            ("minLength", field.min_length),
            ("maxLength", field.max_length),
            ("pattern", field.pattern),
            ("format", field.format),
        ):
            if value is not None:
                out[key] = value
    if field.enum is not None:
        out["enum"] = list(field.enum)
    elif field.soft_enum:
        out["examples"] = list(field.soft_enum)
    if field.default is not None:
        out["default"] = field.default
    return out
