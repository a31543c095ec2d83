"""The resolved field tree every validator and converter walks.

Components are JSON documents (see `_resolve`); once their `$ref`s and `allOf`s are resolved, a
schema is one tree of `Field`s named in the stored form (`_id`, `timestamp`, `_schema`, `_tenant`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "INTEGER_RANGES",
    "INTEGER_TYPES",
    "SCALAR_TYPES",
    "XDM_TYPES",
    "Field",
]

# Two's-complement widths, except `long`: XDM defines it as a 54-bit signed integer so that every
# value survives a JSON (IEEE-754 double) round trip.
INTEGER_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "long": (-(2**53) + 1, 2**53 - 1),
}
INTEGER_TYPES: Final = frozenset(INTEGER_RANGES)
SCALAR_TYPES: Final = frozenset(
    {"string", "number", "boolean", "date", "date-time", *INTEGER_TYPES}
)
XDM_TYPES: Final = frozenset({*SCALAR_TYPES, "object", "array", "map"})


@dataclass(frozen=True, eq=True)
class Field:
    """One field of a resolved schema.

    `xdm_type` is one of `XDM_TYPES`. Objects have `properties` and `required`; arrays have
    `items`; maps have `values` (keys are always strings). `minimum`/`maximum` already include the
    range implied by an integer width. `enum` is enforced; `soft_enum` only documents values.
    `source` is the `$id` of the component that defined the field (not part of equality).
    """

    name: str
    xdm_type: str
    title: str | None = None
    description: str | None = None
    properties: Mapping[str, Field] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    items: Field | None = None
    values: Field | None = None
    enum: tuple[Any, ...] | None = None
    soft_enum: Mapping[str, str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    default: Any = None
    source: str | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash((self.name, self.xdm_type, self.source))

    @property
    def is_integer(self) -> bool:
        """True for byte, short, int and long fields."""
        return self.xdm_type in INTEGER_TYPES

    def child(self, dotted_path: str) -> Field:
        """The descendant object field at `dotted_path` (e.g. `commerce.order.priceTotal`)."""
        current = self
        for part in dotted_path.split("."):
            if current.xdm_type != "object" or part not in current.properties:
                raise KeyError(dotted_path)
            current = current.properties[part]
        return current

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Field]]:
        """Yield `(dotted_path, field)` for every field below this object, depth first.

        Arrays and maps are yielded but not descended into: dotted paths address object members.
        """
        for name, child in self.properties.items():
            path = f"{prefix}{name}"
            yield path, child
            if child.xdm_type == "object":
                yield from child.walk(path + ".")
