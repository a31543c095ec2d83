"""Schema evolution: which differences between two versions of a schema are compatible.

A new version is compatible when every record valid under the old version is still valid under
the new one and data written with the old version reads through the new one (missing fields null):
adding optional fields, adding enum values, relaxing a constraint (a wider range or integer type,
a longer maximum length, a removed pattern or enum). Removing or retyping a field, making a field
required, and tightening a constraint are breaking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._fields import INTEGER_RANGES, Field
from ._schema import Schema

__all__ = ["Change", "compare"]

_WIDTH: Final = {name: index for index, name in enumerate(INTEGER_RANGES)}


@dataclass(frozen=True)
class Change:
    """One difference: the field's dotted path (`[]` for array items, `{}` for map values), what
    changed (`added`, `removed`, `retyped`, `required`, `enum`, `minimum`, ...), whether it breaks
    compatibility, and a readable message."""

    path: str
    kind: str
    breaking: bool
    message: str


def compare(old: Schema | Field, new: Schema | Field) -> list[Change]:
    """Every difference from `old` to `new`, in field order (compatible and breaking)."""
    old_root = old.root if isinstance(old, Schema) else old
    new_root = new.root if isinstance(new, Schema) else new
    changes: list[Change] = []
    _object(old_root, new_root, "", changes)
    return changes


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object(old: Field, new: Field, path: str, changes: list[Change]) -> None:
    for name, before in old.properties.items():
        after = new.properties.get(name)
        where = _join(path, name)
        if after is None:
            changes.append(Change(where, "removed", True, f"{where} was removed"))
            continue
        if name in new.required and name not in old.required:
            changes.append(Change(where, "required", True, f"{where} became required"))
        _field(before, after, where, changes)
    for name in new.properties.keys() - old.properties.keys():
        where = _join(path, name)
        if name in new.required:
            changes.append(Change(where, "added", True, f"{where} was added as a required field"))
        else:
            changes.append(Change(where, "added", False, f"{where} was added"))


def _field(old: Field, new: Field, path: str, changes: list[Change]) -> None:
    if old.xdm_type != new.xdm_type:
        widened = old.is_integer and new.is_integer and _WIDTH[new.xdm_type] > _WIDTH[old.xdm_type]
        changes.append(
            Change(
                path,
                "retyped",
                not widened,
                f"{path} changed type from {old.xdm_type} to {new.xdm_type}",
            )
        )
        if not widened:
            return
    if old.xdm_type == "object":
        _object(old, new, path, changes)
        return
    if old.xdm_type == "array" and old.items is not None and new.items is not None:
        _limit(old.min_items, new.min_items, path, "minItems", lower_is_looser=True, out=changes)
        _limit(old.max_items, new.max_items, path, "maxItems", lower_is_looser=False, out=changes)
        _field(old.items, new.items, f"{path}[]", changes)
        return
    if old.xdm_type == "map" and old.values is not None and new.values is not None:
        _field(old.values, new.values, f"{path}{{}}", changes)
        return
    _enum(old, new, path, changes)
    if not (old.is_integer and new.is_integer):
        # Integer widths bring their own bounds; a wider type is the relaxation reported above.
        _limit(old.minimum, new.minimum, path, "minimum", lower_is_looser=True, out=changes)
        _limit(old.maximum, new.maximum, path, "maximum", lower_is_looser=False, out=changes)
    else:
        low, high = INTEGER_RANGES[old.xdm_type]
        _limit(_bound(old.minimum, low), _bound(new.minimum, INTEGER_RANGES[new.xdm_type][0]),
               path, "minimum", lower_is_looser=True, out=changes)  # fmt: skip
        _limit(_bound(old.maximum, high), _bound(new.maximum, INTEGER_RANGES[new.xdm_type][1]),
               path, "maximum", lower_is_looser=False, out=changes)  # fmt: skip
    _limit(old.min_length, new.min_length, path, "minLength", lower_is_looser=True, out=changes)
    _limit(old.max_length, new.max_length, path, "maxLength", lower_is_looser=False, out=changes)
    for keyword, before, after in (
        ("pattern", old.pattern, new.pattern),
        ("format", old.format, new.format),
    ):
        if before == after:
            continue
        if after is None:
            changes.append(Change(path, keyword, False, f"{path}: {keyword} {before!r} removed"))
        else:
            changes.append(
                Change(path, keyword, True, f"{path}: {keyword} {before!r} became {after!r}")
            )


def _bound(value: float | None, width_bound: int) -> float | None:
    """A declared bound, None when it is only the integer width's own."""
    return None if value is None or value == width_bound else value


def _enum(old: Field, new: Field, path: str, changes: list[Change]) -> None:
    if old.enum == new.enum:
        return
    if new.enum is None:
        changes.append(Change(path, "enum", False, f"{path}: the enum was removed"))
        return
    if old.enum is None:
        changes.append(Change(path, "enum", True, f"{path}: an enum was added"))
        return
    removed = [value for value in old.enum if value not in new.enum]
    added = [value for value in new.enum if value not in old.enum]
    if removed:
        changes.append(Change(path, "enum", True, f"{path}: enum values {removed} removed"))
    if added:
        changes.append(Change(path, "enum", False, f"{path}: enum values {added} added"))


def _limit(
    before: float | None,
    after: float | None,
    path: str,
    keyword: str,
    *,
    lower_is_looser: bool,
    out: list[Change],
) -> None:
    if before == after:
        return
    if after is None:
        out.append(Change(path, keyword, False, f"{path}: {keyword} {before} removed"))
        return
    if before is None:
        out.append(Change(path, keyword, True, f"{path}: {keyword} {after} added"))
        return
    looser = after < before if lower_is_looser else after > before
    out.append(
        Change(path, keyword, not looser, f"{path}: {keyword} changed from {before} to {after}")
    )
