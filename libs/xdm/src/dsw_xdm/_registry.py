"""The registry of XDM components and composed schemas (what the catalog exposes over REST)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from ._exceptions import (
    ComponentNotFoundError,
    DuplicateComponentError,
    IncompatibleFieldGroupError,
    InvalidDefinitionError,
    UnknownReferenceError,
)
from ._fields import Field
from ._resolve import Resolver, component_kind
from ._schema import Schema, compose, schema_from_json
from ._standard import standard_document

__all__ = ["KINDS", "Component", "Registry", "pointers_to", "standard_registry"]

KINDS: Final = ("behavior", "class", "fieldgroup", "datatype")


@dataclass(frozen=True)
class Component:
    """A registered component: its `$id`, kind (see `KINDS`), title and JSON definition."""

    id: str
    kind: str
    title: str
    description: str | None
    standard: bool
    definition: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A deep copy of the definition, safe to serialise or modify."""
        return copy.deepcopy(dict(self.definition))


class Registry:
    """XDM components (behaviours, classes, field groups, data types) and schemas by `$id`.

    `Registry()` starts with every standard component (generated from the XDM standard, checked
    when generated); `Registry(standard=False)` starts empty. Registering validates the component
    by resolving it, so a registry never holds a component with unknown references or cycles.
    Thread-safe for concurrent reads and registrations.
    """

    def __init__(self, *, standard: bool = True) -> None:
        self._components: dict[str, Component] = {}
        self._schemas: dict[str, Schema] = {}
        self._lock = threading.RLock()
        if standard:
            self._load_standard(standard_document())

    @classmethod
    def from_standard_document(cls, document: Mapping[str, Any]) -> Registry:
        """A registry holding the components of a generated standard document (see `check`)."""
        registry = cls(standard=False)
        registry._load_standard(document)
        return registry

    def check(self) -> None:
        """Resolve every component and compose every class: raises the first `XDMError`."""
        resolver = Resolver(self.lookup)
        for component in self.components():
            resolver.component(component.id)
            if component.kind == "class":
                compose(component.id, title=component.title, registry=self)

    def _load_standard(self, document: Mapping[str, Any]) -> None:
        for entry in document["components"]:
            definition = entry["definition"]
            self._components[definition["$id"]] = Component(
                id=definition["$id"],
                kind=entry["kind"],
                title=definition.get("title", definition["$id"]),
                description=definition.get("description"),
                standard=True,
                definition=definition,
            )

    def kind(self, component_id: str) -> str | None:
        """The kind of a registered component (see `KINDS`), or None."""
        component = self._components.get(component_id)
        return component.kind if component else None

    # -- components ----------------------------------------------------------------------------

    def lookup(self, component_id: str) -> Mapping[str, Any] | None:
        """The raw definition of a component, or None (the resolver's view of the registry)."""
        component = self._components.get(component_id)
        return component.definition if component else None

    def get(self, component_id: str) -> Component:
        """The component with this `$id`; raises `ComponentNotFoundError`."""
        try:
            return self._components[component_id]
        except KeyError:
            raise ComponentNotFoundError(component_id) from None

    def resolve(self, component_id: str) -> Field:
        """The resolved object `Field` of one component (e.g. to validate a field group alone)."""
        self.get(component_id)
        return Resolver(self.lookup).component(component_id)

    def __contains__(self, component_id: object) -> bool:
        return component_id in self._components

    def components(self, kind: str | None = None) -> list[Component]:
        """Components of one kind (or all), sorted by `$id`."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return sorted(
            (c for c in self._components.values() if kind is None or c.kind == kind),
            key=lambda c: c.id,
        )

    def classes(self) -> list[Component]:
        """Every class (XDM Individual Profile, XDM ExperienceEvent and custom ones)."""
        return self.components("class")

    def field_groups(self, *, for_class: str | None = None) -> list[Component]:
        """Every field group, or only those that can extend `for_class`."""
        groups = self.components("fieldgroup")
        if for_class is None:
            return groups
        lineage = {for_class}
        if for_class in self._components:
            extends = self._components[for_class].definition.get("meta:extends") or []
            lineage.update([extends] if isinstance(extends, str) else extends)
        return [
            group
            for group in groups
            if not group.definition.get("meta:intendedToExtend")
            or lineage.intersection(group.definition["meta:intendedToExtend"])
        ]

    def data_types(self) -> list[Component]:
        """Every data type (reusable object shape)."""
        return self.components("datatype")

    def behaviors(self) -> list[Component]:
        """The behaviours (record, time-series)."""
        return self.components("behavior")

    def register(self, definition: Mapping[str, Any]) -> Component:
        """Register a custom class, field group or data type (component JSON, see README).

        The definition is copied and resolved immediately; on any error nothing is registered.
        Raises `DuplicateComponentError`, `InvalidDefinitionError`, `UnknownReferenceError` or
        `ReferenceCycleError`.
        """
        with self._lock:
            component = self._add(definition, standard=False)
            try:
                Resolver(self.lookup).component(component.id)
                if component.kind == "class":
                    # A class must name its behaviour; composing an empty schema checks that.
                    compose(component.id, title=component.title, registry=self)
                if component.kind == "fieldgroup":
                    self._check_fits_classes(component)
            except Exception:
                del self._components[component.id]
                raise
            return component

    def _check_fits_classes(self, component: Component) -> None:
        """A field group's intended classes exist, are classes, and take its fields."""
        for class_id in component.definition.get("meta:intendedToExtend") or []:
            kind = self.kind(class_id)
            if kind is None:
                raise UnknownReferenceError(class_id, referenced_from=component.id)
            if kind != "class":
                raise IncompatibleFieldGroupError(component.id, class_id, [class_id])
            compose(class_id, [component.id], title=component.title, registry=self)

    def dependencies(self, component_id: str) -> list[str]:
        """The `$id`s a component references (directly or not), excluding itself, in the order
        they can be registered."""
        found: list[str] = []

        def visit(current: str) -> None:
            definition = self.lookup(current)
            for ref in _references(definition or {}):
                target = ref.partition("#")[0]
                if target and target != current and target not in found and target in self:
                    visit(target)
                    if target not in found:
                        found.append(target)

        visit(component_id)
        return found

    def unregister(self, component_id: str) -> None:
        """Remove a custom component; standard components cannot be removed."""
        with self._lock:
            component = self.get(component_id)
            if component.standard:
                raise InvalidDefinitionError(f"{component_id!r} is a standard component")
            del self._components[component_id]

    # -- schemas -------------------------------------------------------------------------------

    def compose(
        self,
        class_id: str,
        field_groups: Sequence[str] = (),
        *,
        title: str,
        description: str | None = None,
        tenant_id: str | None = None,
        tenant_fields: Mapping[str, Any] | None = None,
        schema_id: str | None = None,
    ) -> Schema:
        """`compose` against this registry (the schema is not registered)."""
        return compose(
            class_id,
            field_groups,
            title=title,
            description=description,
            tenant_id=tenant_id,
            tenant_fields=tenant_fields,
            schema_id=schema_id,
            registry=self,
        )

    def schema_from_json(self, document: Mapping[str, Any]) -> Schema:
        """`schema_from_json` against this registry (the schema is not registered)."""
        return schema_from_json(document, registry=self)

    def register_schema(self, schema: Schema | Mapping[str, Any]) -> Schema:
        """Register a composed schema (or its JSON document); raises `DuplicateComponentError`."""
        if not isinstance(schema, Schema):
            schema = self.schema_from_json(schema)
        with self._lock:
            if schema.id in self._schemas or schema.id in self._components:
                raise DuplicateComponentError(f"{schema.id!r} is already registered")
            self._schemas[schema.id] = schema
        return schema

    def get_schema(self, schema_id: str) -> Schema:
        """A registered schema; raises `ComponentNotFoundError`."""
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise ComponentNotFoundError(schema_id) from None

    def schemas(self) -> list[Schema]:
        """Registered schemas, sorted by `$id`."""
        return sorted(self._schemas.values(), key=lambda s: s.id)

    # -- internals -----------------------------------------------------------------------------

    def _add(self, definition: Mapping[str, Any], *, standard: bool) -> Component:
        if not isinstance(definition, Mapping):
            raise InvalidDefinitionError("a component must be a JSON object")
        try:
            # A JSON round trip both deep-copies and proves the definition is plain JSON.
            document = json.loads(json.dumps(definition))
        except (TypeError, ValueError) as error:
            raise InvalidDefinitionError(f"a component must be plain JSON: {error}") from None
        component_id = document.get("$id")
        if not isinstance(component_id, str) or "://" not in component_id:
            raise InvalidDefinitionError("a component needs an absolute URI '$id'")
        if "#" in component_id:
            raise InvalidDefinitionError(f"'$id' may not contain a fragment: {component_id!r}")
        title = document.get("title")
        if not isinstance(title, str) or len(title) < 3:
            raise InvalidDefinitionError(f"{component_id}: 'title' of at least 3 characters")
        if document.get("type", "object") != "object":
            raise InvalidDefinitionError(f"{component_id}: a component has type 'object'")
        intended = document.get("meta:intendedToExtend")
        if intended is not None and not (
            isinstance(intended, list) and all(isinstance(i, str) for i in intended)
        ):
            raise InvalidDefinitionError(f"{component_id}: meta:intendedToExtend is a list")
        if component_id in self._components or component_id in self._schemas:
            raise DuplicateComponentError(f"{component_id!r} is already registered")
        component = Component(
            id=component_id,
            kind=component_kind(document),
            title=title,
            description=document.get("description"),
            standard=standard,
            definition=document,
        )
        self._components[component_id] = component
        return component


@cache
def standard_registry() -> Registry:
    """The shared registry of standard components (do not register into it: make a `Registry`)."""
    return Registry()


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            yield ref
        for key, value in node.items():
            if key != "$ref":
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def pointers_to(
    document: Any, *, ref: str | None = None, field_path: str | None = None
) -> list[str]:
    """JSON Pointers into a component document: of each `$ref` to `ref` (fragment ignored), or of
    the property definitions whose field path (names under `properties`) ends with `field_path`."""
    found: list[str] = []
    wanted = field_path.split(".") if field_path else None

    def walk(node: Any, pointer: str, names: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            target = node.get("$ref")
            if ref is not None and isinstance(target, str) and target.partition("#")[0] == ref:
                found.append(pointer + "/$ref")
            for key, value in node.items():
                escaped = str(key).replace("~", "~0").replace("/", "~1")
                if isinstance(value, Mapping) and key == "properties":
                    for name, child in value.items():
                        child_pointer = f"{pointer}/properties/{_escaped(name)}"
                        child_names = (*names, name)
                        if wanted and list(child_names[-len(wanted) :]) == wanted:
                            found.append(child_pointer)
                        walk(child, child_pointer, child_names)
                else:
                    walk(value, f"{pointer}/{escaped}", names)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{pointer}/{index}", names)

    walk(document, "", ())
    return found


def _escaped(name: str) -> str:
    """A JSON Pointer token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")
