"""Standard form <-> stored form of XDM documents.

The public standard spells fields with JSON-LD prefixes (`xdm:timestamp`, `@id`,
`schema:latitude`); Experience Platform's catalog and data lake use the stored form
("compatibility mode"): the `xdm:` prefix dropped, `@id` -> `_id`, `@type` -> `_type`, any other
prefix becomes an underscore parent object (`schema:latitude` -> `_schema.latitude`), and URI-named
properties under `https://ns.adobe.com/<a>/<b>/<c>` become `_<a>.<b>.<c>` (the same rule puts
tenant fields under `_<tenantId>`). Datasets on this platform hold the stored form.

Map keys (e.g. identity namespaces in `identityMap`) are data, not field names: with a schema the
converters leave them alone; without one, keys that look like field names are renamed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ._exceptions import ConversionError
from ._fields import Field
from ._schema import Schema

__all__ = ["PREFIXES", "stored_name", "to_standard_form", "to_stored_form"]

# JSON-LD prefixes of the XDM @context other than `xdm` itself; in the stored form each becomes
# an underscore parent object, and `to_standard_form` turns those objects back into prefixes.
PREFIXES: Final = ("repo", "schema", "dc", "xmp", "iptc4xmpExt", "exif", "tiff")
_PREFIXED: Final = re.compile(r"^([A-Za-z][A-Za-z0-9]*):(?!//)(.+)$")
_ADOBE_URI: Final = re.compile(r"^https?://ns\.adobe\.com/(.+)$")


def _root(schema: Schema | Field | None) -> Field | None:
    return schema.root if isinstance(schema, Schema) else schema


def stored_name(key: str) -> list[str]:
    """Stored-form path (one or more names) of a standard-form property name."""
    if key == "@id":
        return ["_id"]
    if key == "@type":
        return ["_type"]
    uri = _ADOBE_URI.match(key)
    if uri:
        parts = [part for part in uri.group(1).split("/") if part]
        return [f"_{parts[0]}", *parts[1:]]
    prefixed = _PREFIXED.match(key)
    if prefixed:
        prefix, name = prefixed.groups()
        return [name] if prefix == "xdm" else [f"_{prefix}", name]
    return [key]


def _child(field: Field | None, name: str) -> Field | None:
    if field is None or field.xdm_type != "object":
        return None
    return field.properties.get(name)


def _place(target: dict[str, Any], path: list[str], value: Any, original: str) -> None:
    for name in path[:-1]:
        target = target.setdefault(name, {})
        if not isinstance(target, dict):
            raise ConversionError(f"{original!r} collides with a non-object field {name!r}")
    last = path[-1]
    existing = target.get(last)
    if existing is None:
        target[last] = value
    elif isinstance(existing, dict) and isinstance(value, dict):
        for key, item in value.items():
            _place(existing, [key], item, original)
    else:
        raise ConversionError(f"{original!r} maps to {'.'.join(path)!r}, which is already set")


def to_stored_form(document: Any, schema: Schema | Field | None = None) -> Any:
    """Convert a standard-form document (or any JSON value) to the stored form.

    Raises `ConversionError` when two standard names map to the same stored field.
    """
    return _to_stored(document, _root(schema))


def _to_stored(value: Any, field: Field | None) -> Any:
    if isinstance(value, list):
        items = field.items if field is not None and field.xdm_type == "array" else None
        return [_to_stored(item, items) for item in value]
    if not isinstance(value, Mapping):
        return value
    if field is not None and field.xdm_type == "map":
        return {key: _to_stored(item, field.values) for key, item in value.items()}
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = stored_name(key)
        target = field
        for name in path:
            target = _child(target, name)
        _place(out, path, _to_stored(item, target), key)
    return out


def to_standard_form(
    document: Any, schema: Schema | Field | None = None, *, prefixes: tuple[str, ...] = PREFIXES
) -> Any:
    """Convert a stored-form document to the standard form (the inverse of `to_stored_form`).

    `_id`/`_type` become `@id`/`@type`, `_<prefix>` objects of `prefixes` become prefixed names,
    other underscore objects (the tenant's, `_experience`) are kept as they are, every other name
    gets `xdm:`.
    """
    return _to_standard(document, _root(schema), prefixes, inside_namespace=False)


def _to_standard(
    value: Any, field: Field | None, prefixes: tuple[str, ...], *, inside_namespace: bool
) -> Any:
    if isinstance(value, list):
        items = field.items if field is not None and field.xdm_type == "array" else None
        return [
            _to_standard(item, items, prefixes, inside_namespace=inside_namespace) for item in value
        ]
    if not isinstance(value, Mapping):
        return value
    if field is not None and field.xdm_type == "map":
        return {
            key: _to_standard(item, field.values, prefixes, inside_namespace=inside_namespace)
            for key, item in value.items()
        }
    out: dict[str, Any] = {}
    for key, item in value.items():
        child = _child(field, key)
        if inside_namespace:
            out[key] = _to_standard(item, child, prefixes, inside_namespace=True)
        elif key in ("_id", "_type"):
            out["@" + key[1:]] = _to_standard(item, child, prefixes, inside_namespace=False)
        elif key.startswith("_") and key[1:] in prefixes and isinstance(item, Mapping):
            for name, inner in item.items():
                out[f"{key[1:]}:{name}"] = _to_standard(
                    inner, _child(child, name), prefixes, inside_namespace=False
                )
        elif key.startswith("_"):
            out[key] = _to_standard(item, child, prefixes, inside_namespace=True)
        else:
            out[f"xdm:{key}"] = _to_standard(item, child, prefixes, inside_namespace=False)
    return out
