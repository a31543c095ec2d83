"""Turn component JSON into resolved `Field` trees.

The component format (what `Registry.register` accepts, and what `_standard` is written in) is the
XDM one, in stored-form field names::

    {
      "$id": "https://ns.adobe.com/acme/datatypes/store",     # absolute URI, required
      "title": "Store", "description": "...", "type": "object",
      "meta:extends": [...], "meta:abstract": false, "meta:extensible": true,
      "meta:intendedToExtend": [...],        # present => field group ([] = any class)
      "definitions": {"store": {"properties": {...}, "required": [...]}},
      "allOf": [{"$ref": "#/definitions/store"}, {"$ref": "<another component $id>"}],
      "properties": {...}, "required": [...]  # also accepted directly, without definitions
    }

A property is `{"type": "string" | "number" | "integer" | "boolean" | "object" | "array", ...}` with
the JSON Schema keywords `format` (date, date-time, email, uri, uri-reference), `enum`, `minimum`,
`maximum`, `minLength`, `maxLength`, `pattern`, `items`, `minItems`, `maxItems`, `properties`,
`required`, `allOf`, `default`; XDM's `meta:enum` (soft enum, documentation only) and
`meta:xdmType` (byte, short, int, long, date, date-time, map); a map is `type: object` with
`meta:xdmType: map` and `additionalProperties`; or `{"$ref": "<data type $id>"}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from ._exceptions import (
    DuplicateFieldError,
    InvalidDefinitionError,
    ReferenceCycleError,
    UnknownReferenceError,
)
from ._fields import INTEGER_RANGES, INTEGER_TYPES, Field
from ._standard import ids

__all__ = ["BEHAVIOUR_IDS", "Resolver", "component_kind", "merge_properties"]

BEHAVIOUR_IDS: Final = frozenset({ids.RECORD, ids.TIME_SERIES, ids.ADHOC})
_JSON_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "object", "array"})
_STRING_FORMATS: Final = frozenset({"email", "uri", "uri-reference", "date", "date-time"})

Lookup = Callable[[str], Mapping[str, Any] | None]


def component_kind(definition: Mapping[str, Any]) -> str:
    """Classify a component the way XDM does: behavior, class, fieldgroup or datatype.

    A field group declares `meta:intendedToExtend`; a class `meta:extends` a behaviour; anything
    else is a data type.
    """
    if definition.get("$id") in BEHAVIOUR_IDS:
        return "behavior"
    if "meta:intendedToExtend" in definition:
        return "fieldgroup"
    extends = definition.get("meta:extends") or []
    if isinstance(extends, str):
        extends = [extends]
    if any(parent in BEHAVIOUR_IDS for parent in extends):
        return "class"
    return "datatype"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def merge_properties(
    into: dict[str, Field], name: str, incoming: Field, path: str, *, refine: bool = False
) -> None:
    """Add `incoming` under `name`, merging objects and refusing a second definition of a leaf.

    With `refine` (the parts of one component's `allOf`, JSON Schema semantics) a leaf of the same
    type may be defined again: both definitions apply, the later one's constraints (a `const`
    identifier of a channel, a narrower enum) added to the earlier one's.
    """
    existing = into.get(name)
    if existing is None:
        into[name] = incoming
        return
    if existing.xdm_type == "object" and incoming.xdm_type == "object":
        merged = dict(existing.properties)
        for child_name, child in incoming.properties.items():
            merge_properties(merged, child_name, child, _join(path, name), refine=refine)
        into[name] = replace(
            existing,
            properties=merged,
            required=tuple(dict.fromkeys(existing.required + incoming.required)),
        )
        return
    if existing == incoming and existing.source == incoming.source:
        return  # the same definition reached twice (a diamond), not a conflict
    if refine and existing.xdm_type == incoming.xdm_type:
        into[name] = _refined(existing, incoming)
        return
    raise DuplicateFieldError(_join(path, name), existing.source, incoming.source)


def _refined(existing: Field, incoming: Field) -> Field:
    changes = {
        attribute: getattr(incoming, attribute)
        for attribute in (
            "title", "description", "items", "values", "enum", "soft_enum", "minimum", "maximum",
            "min_length", "max_length", "pattern", "format", "min_items", "max_items", "default",
        )
        if getattr(incoming, attribute) is not None
    }  # fmt: skip
    return replace(existing, **changes)


class Resolver:
    """Resolves components (looked up by `$id`) into `Field` trees, detecting cycles."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        # Resolved components by reference: a finished resolution does not depend on the path
        # that reached it (a cycle would have raised), and the standard's data types are reached
        # from many places.
        self._resolved: dict[str, Field] = {}

    def component(self, component_id: str, *, referenced_from: str | None = None) -> Field:
        """The object `Field` holding every property a component contributes."""
        return self._component(component_id, (), referenced_from)

    def property(self, name: str, definition: Any, *, source: str, path: str = "") -> Field:
        """Resolve one property definition (used for tenant fields)."""
        return self._property(name, definition, source, source, (), path)

    # -- internals -------------------------------------------------------------------------------

    def _document(self, component_id: str, referenced_from: str | None) -> Mapping[str, Any]:
        document = self._lookup(component_id)
        if document is None:
            raise UnknownReferenceError(component_id, referenced_from=referenced_from)
        return document

    def _component(self, ref: str, stack: tuple[str, ...], referenced_from: str | None) -> Field:
        if ref in stack:
            raise ReferenceCycleError([*stack, ref])
        cached = self._resolved.get(ref)
        if cached is not None:
            return cached
        stack = (*stack, ref)
        component_id, _, fragment = ref.partition("#")
        document = self._document(component_id, referenced_from)
        container: Any = document
        if fragment:
            container = _fragment(document, fragment, component_id)
        elif "allOf" not in document and "properties" not in document:
            # A component that is only a set of definitions (the standard's `repo` common
            # properties) contributes all of them.
            definitions = document.get("definitions") or {}
            container = {"allOf": [{"$ref": f"#/definitions/{name}"} for name in definitions]}
        properties: dict[str, Field] = {}
        required: list[str] = []
        self._collect(container, document, component_id, stack, "", properties, required, set())
        _check_required(required, properties, component_id)
        resolved = Field(
            name="",
            xdm_type="object",
            title=document.get("title"),
            description=document.get("description"),
            properties=properties,
            required=tuple(dict.fromkeys(required)),
            source=component_id,
        )
        self._resolved[ref] = resolved
        return resolved

    def _collect(
        self,
        container: Any,
        document: Mapping[str, Any],
        source: str,
        stack: tuple[str, ...],
        path: str,
        properties: dict[str, Field],
        required: list[str],
        seen: set[str],
    ) -> None:
        """Gather `allOf` parts, `properties` and `required` of one object definition."""
        if not isinstance(container, Mapping):
            raise InvalidDefinitionError(f"{source}: {path or 'definition'} must be an object")
        for part in _list(container.get("allOf", []), f"{source}: allOf"):
            if not isinstance(part, Mapping):
                raise InvalidDefinitionError(f"{source}: allOf entries must be objects")
            ref = part.get("$ref")
            if ref is None:
                self._collect(part, document, source, stack, path, properties, required, seen)
                continue
            if not isinstance(ref, str):
                raise InvalidDefinitionError(f"{source}: $ref must be a string")
            absolute = f"{source}{ref}" if ref.startswith("#") else ref
            if absolute in seen:
                continue  # the same part included twice through different parents
            seen.add(absolute)
            if ref.startswith("#"):
                if absolute in stack:
                    raise ReferenceCycleError([*stack, absolute])
                local = _fragment(document, ref[1:], source)
                self._collect(
                    local, document, source, (*stack, absolute), path, properties, required, seen
                )
            else:
                part_field = self._component(ref, stack, source)
                for name, child in part_field.properties.items():
                    merge_properties(properties, name, child, path, refine=True)
                required.extend(part_field.required)
        own = container.get("properties", {})
        if not isinstance(own, Mapping):
            raise InvalidDefinitionError(
                f"{source}: properties of {path or 'root'} must be an object"
            )
        for name, definition in own.items():
            child = self._property(name, definition, source, source, stack, _join(path, name))
            merge_properties(properties, name, child, path, refine=True)
        names = _list(container.get("required", []), f"{source}: required")
        if not all(isinstance(name, str) for name in names):
            raise InvalidDefinitionError(f"{source}: required must list field names")
        required.extend(names)

    def _property(
        self,
        name: str,
        definition: Any,
        source: str,
        document_id: str,
        stack: tuple[str, ...],
        path: str,
    ) -> Field:
        where = f"{source}: field {path!r}"
        if not isinstance(definition, Mapping):
            raise InvalidDefinitionError(f"{where} must be a JSON object")
        common: dict[str, Any] = {
            "name": name,
            "title": definition.get("title"),
            "description": definition.get("description"),
            "default": definition.get("default"),
            "source": source,
        }
        ref = definition.get("$ref")
        if ref is not None:
            if not isinstance(ref, str):
                raise InvalidDefinitionError(f"{where}: $ref must be a string")
            target = f"{document_id}{ref}" if ref.startswith("#") else ref
            scalar = self._non_object_definition(target, stack, source)
            if scalar is not None:
                # A `$ref` to a definition that is not an object (a string with an enum, an
                # array): resolve that definition in its own document, under this name.
                target_document, node = scalar
                local = {k: v for k, v in definition.items() if k != "$ref"}
                return self._property(
                    name, {**node, **local}, source, target_document, (*stack, target), path
                )
            resolved = self._component(target, stack, source)
            title = common["title"] or resolved.title
            description = common["description"] or resolved.description
            return replace(resolved, name=name, title=title, description=description, source=source)
        json_type = definition.get("type")
        if json_type not in _JSON_TYPES:
            raise InvalidDefinitionError(f"{where}: unsupported type {json_type!r}")
        xdm_type = definition.get("meta:xdmType")
        if json_type == "object":
            additional = definition.get("additionalProperties")
            if xdm_type == "map" or (
                isinstance(additional, Mapping) and "properties" not in definition
            ):
                if not isinstance(additional, Mapping):
                    raise InvalidDefinitionError(f"{where}: a map needs additionalProperties")
                values = self._property("*", additional, source, document_id, stack, path + ".*")
                return Field(xdm_type="map", values=values, **common)
            properties: dict[str, Field] = {}
            required: list[str] = []
            self._collect(
                definition,
                self._document_or_empty(document_id),
                source,
                stack,
                path,
                properties,
                required,
                set(),
            )
            _check_required(required, properties, where)
            return Field(
                xdm_type="object",
                properties=properties,
                required=tuple(dict.fromkeys(required)),
                **common,
            )
        if json_type == "array":
            items = definition.get("items")
            if items is None:
                raise InvalidDefinitionError(f"{where}: an array needs items")
            return Field(
                xdm_type="array",
                items=self._property("[]", items, source, document_id, stack, path + "[]"),
                min_items=_int_or_none(definition, "minItems", where),
                max_items=_int_or_none(definition, "maxItems", where),
                **common,
            )
        return _scalar(definition, json_type, xdm_type, where, common)

    def _non_object_definition(
        self, target: str, stack: tuple[str, ...], source: str
    ) -> tuple[str, Mapping[str, Any]] | None:
        component_id, _, fragment = target.partition("#")
        if not fragment:
            return None
        node = _fragment(self._document(component_id, source), fragment, component_id)
        if not isinstance(node, Mapping) or node.get("type") in (None, "object"):
            return None
        if target in stack:
            raise ReferenceCycleError([*stack, target])
        return component_id, node

    def _document_or_empty(self, document_id: str) -> Mapping[str, Any]:
        return self._lookup(document_id) or {}


def _fragment(document: Mapping[str, Any], fragment: str, source: str) -> Any:
    parts = [part for part in fragment.split("/") if part]
    node: Any = document
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            raise UnknownReferenceError(f"{source}#{fragment}", referenced_from=source)
        node = node[part]
    return node


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidDefinitionError(f"{where} must be a list")
    return value


def _int_or_none(definition: Mapping[str, Any], key: str, where: str) -> int | None:
    value = definition.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidDefinitionError(f"{where}: {key} must be a non-negative integer")
    return value


def _number_or_none(definition: Mapping[str, Any], key: str, where: str) -> float | None:
    value = definition.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDefinitionError(f"{where}: {key} must be a number")
    return value


def _check_required(required: list[str], properties: Mapping[str, Field], where: str) -> None:
    missing = [name for name in required if name not in properties]
    if missing:
        raise InvalidDefinitionError(f"{where}: required names undefined fields {missing}")


def _integer_width(minimum: float | None, maximum: float | None) -> str:
    """The smallest XDM integer type holding the declared range; `int` when unbounded.

    XDM: "Integer fields are interpreted as the smallest integer data type that can contain the
    specified range".
    """
    if minimum is None and maximum is None:
        return "int"
    low = minimum if minimum is not None else INTEGER_RANGES["int"][0]
    high = maximum if maximum is not None else INTEGER_RANGES["int"][1]
    for candidate in ("byte", "short", "int", "long"):
        lowest, highest = INTEGER_RANGES[candidate]
        if lowest <= low and high <= highest:
            return candidate
    return "long"


def _scalar(
    definition: Mapping[str, Any],
    json_type: str,
    xdm_type: Any,
    where: str,
    common: dict[str, Any],
) -> Field:
    minimum = _number_or_none(definition, "minimum", where)
    maximum = _number_or_none(definition, "maximum", where)
    string_format = definition.get("format")
    if json_type == "string":
        if string_format is not None and string_format not in _STRING_FORMATS:
            # Unknown formats are annotations in JSON Schema; keep them out of validation.
            string_format = None
        resolved = "string"
        if string_format in ("date", "date-time") or xdm_type in ("date", "date-time"):
            resolved = string_format if string_format in ("date", "date-time") else xdm_type
            string_format = resolved
    elif json_type == "integer":
        if xdm_type is not None and xdm_type not in INTEGER_TYPES:
            raise InvalidDefinitionError(f"{where}: meta:xdmType {xdm_type!r} is not an integer")
        resolved = xdm_type or _integer_width(minimum, maximum)
        low, high = INTEGER_RANGES[resolved]
        if (minimum is not None and minimum > high) or (maximum is not None and maximum < low):
            raise InvalidDefinitionError(f"{where}: range does not fit a {resolved}")
        minimum = low if minimum is None else max(minimum, low)
        maximum = high if maximum is None else min(maximum, high)
    elif json_type == "number":
        resolved = "number"
    else:
        resolved = "boolean"
    enum = definition.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise InvalidDefinitionError(f"{where}: enum must be a non-empty list")
    soft = definition.get("meta:enum")
    if isinstance(soft, list) and all(isinstance(value, str) for value in soft):
        soft = {value: value for value in soft}  # values without labels (the standard has some)
    if soft is not None and not isinstance(soft, Mapping):
        raise InvalidDefinitionError(f"{where}: meta:enum must map values to labels")
    pattern = definition.get("pattern")
    if pattern is not None:
        _check_pattern(pattern, where)
    return Field(
        xdm_type=resolved,
        enum=tuple(enum) if enum is not None else None,
        soft_enum=dict(soft) if soft is not None else None,
        minimum=minimum,
        maximum=maximum,
        min_length=_int_or_none(definition, "minLength", where),
        max_length=_int_or_none(definition, "maxLength", where),
        pattern=pattern,
        format=string_format if resolved == "string" or resolved in ("date", "date-time") else None,
        **common,
    )


def _check_pattern(pattern: Any, where: str) -> None:
    """Patterns run in Python `re` (records) and RE2 (Arrow): both must accept them."""
    if not isinstance(pattern, str):
        raise InvalidDefinitionError(f"{where}: pattern must be a string")
    try:
        re.compile(pattern)
        pc.match_substring_regex(pa.array([""]), pattern)
    except (re.error, pa.ArrowInvalid) as error:
        raise InvalidDefinitionError(f"{where}: invalid pattern {pattern!r}: {error}") from None
