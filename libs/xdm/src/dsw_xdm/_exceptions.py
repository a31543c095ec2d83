"""Exceptions raised by dsw_xdm.

The hierarchy, in one place (catch the narrowest class that fits)::

    XDMError
     ├── SchemaError                   a component or schema cannot be built
     │    ├── InvalidDefinitionError     malformed JSON, unsupported type or keyword value
     │    ├── UnknownReferenceError      a `$ref` / `$id` that is not registered
     │    │    └── ComponentNotFoundError  `Registry.get` of an unknown `$id`
     │    ├── ReferenceCycleError        `$ref`s that lead back to themselves
     │    ├── IncompatibleFieldGroupError  a field group not intended for the class
     │    └── DuplicateFieldError        two components define the same field path
     ├── DuplicateComponentError       registering an `$id` that already exists
     └── ConversionError               data that cannot be converted (form, Arrow, CSV)

Validation problems in *data* are not exceptions: validators return `Violation`s.
"""

from __future__ import annotations

__all__ = [
    "ComponentNotFoundError",
    "ConversionError",
    "DuplicateComponentError",
    "DuplicateFieldError",
    "IncompatibleFieldGroupError",
    "InvalidDefinitionError",
    "ReferenceCycleError",
    "SchemaError",
    "UnknownReferenceError",
    "XDMError",
]


class XDMError(Exception):
    """Base class of every error raised by dsw_xdm."""


class SchemaError(XDMError):
    """A component or composed schema cannot be built."""


class InvalidDefinitionError(SchemaError):
    """A definition is malformed: wrong JSON shape, unsupported type, bad keyword value."""


class UnknownReferenceError(SchemaError):
    """A `$ref` (or a class / field group `$id`) points at nothing registered."""

    def __init__(self, ref: str, *, referenced_from: str | None = None) -> None:
        self.ref = ref
        self.referenced_from = referenced_from
        where = f" (referenced from {referenced_from})" if referenced_from else ""
        super().__init__(f"unknown reference {ref!r}{where}")


class ComponentNotFoundError(UnknownReferenceError):
    """`Registry.get` was asked for an `$id` that is not registered."""


class ReferenceCycleError(SchemaError):
    """Following `$ref`s leads back to a component already being resolved."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = chain
        super().__init__("reference cycle: " + " -> ".join(chain))


class IncompatibleFieldGroupError(SchemaError):
    """A field group's `meta:intendedToExtend` does not include the schema's class."""

    def __init__(self, field_group: str, class_id: str, intended: list[str]) -> None:
        self.field_group = field_group
        self.class_id = class_id
        self.intended = intended
        super().__init__(
            f"field group {field_group!r} cannot extend class {class_id!r}; "
            f"it is intended to extend {intended}"
        )


class DuplicateFieldError(SchemaError):
    """Two components (or a component and tenant fields) define the same field path."""

    def __init__(self, path: str, first: str | None, second: str | None) -> None:
        self.path = path
        self.first = first
        self.second = second
        super().__init__(
            f"field {path!r} is defined twice: by {first or 'the schema'} "
            f"and by {second or 'the schema'}"
        )


class DuplicateComponentError(XDMError):
    """A component or schema with this `$id` is already registered."""


class ConversionError(XDMError):
    """Data or a schema cannot be converted to the requested representation."""
