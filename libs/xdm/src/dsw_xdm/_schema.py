"""Composed schemas: one class + field groups + tenant fields, resolved into one `Field` tree."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._exceptions import (
    IncompatibleFieldGroupError,
    InvalidDefinitionError,
    UnknownReferenceError,
)
from ._fields import Field
from ._resolve import BEHAVIOUR_IDS, Resolver, merge_properties
from ._standard import ids

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["Identity", "Schema", "compose", "schema_from_json"]

_TENANT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
# Custom field names: letters, digits, dash, underscore; never a leading underscore (that is
# reserved for namespaces such as `_schema` or the tenant object itself).
_CUSTOM_FIELD_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SCHEMA_KEYS: Final = frozenset(
    {"$id", "title", "description", "class", "fieldGroups", "tenantId", "tenantFields",
     "descriptors"}
)  # fmt: skip
IDENTITY_DESCRIPTOR: Final = "xdm:descriptorIdentity"


@dataclass(frozen=True)
class Identity:
    """A field marked as an identity by an XDM identity descriptor (`xdm:descriptorIdentity`):
    its dotted path, identity namespace code and whether it is the primary identity."""

    path: str
    namespace: str
    primary: bool

    def to_descriptor(self) -> dict[str, Any]:
        """The descriptor in XDM's form (`xdm:sourceProperty` is a JSON Pointer)."""
        return {
            "@type": IDENTITY_DESCRIPTOR,
            "xdm:sourceProperty": "/" + self.path.replace(".", "/"),
            "xdm:namespace": self.namespace,
            "xdm:property": "xdm:code",
            "xdm:isPrimary": self.primary,
        }


class Schema:
    """A composed, resolved XDM schema.

    `root` is the object `Field` of a record, in stored-form names; `behavior` is `record` or
    `time-series`; tenant fields live under `_<tenant_id>`. Build one with `compose` or
    `schema_from_json` (or the same methods of a `Registry`).
    """

    def __init__(
        self,
        *,
        schema_id: str,
        title: str,
        description: str | None,
        class_id: str,
        field_groups: tuple[str, ...],
        tenant_id: str | None,
        tenant_fields: Mapping[str, Any] | None,
        behavior: str,
        root: Field,
        identities: tuple[Identity, ...] = (),
    ) -> None:
        self.id = schema_id
        self.title = title
        self.description = description
        self.class_id = class_id
        self.field_groups = field_groups
        self.tenant_id = tenant_id
        self._tenant_fields = copy.deepcopy(dict(tenant_fields)) if tenant_fields else None
        self.behavior = behavior
        self.root = root
        self.identities = identities

    def __repr__(self) -> str:
        return f"Schema(id={self.id!r}, title={self.title!r}, class_id={self.class_id!r})"

    @property
    def tenant_namespace(self) -> str | None:
        """The name of the tenant object (`_<tenantId>`), or None without tenant fields."""
        return f"_{self.tenant_id}" if self.tenant_id else None

    @property
    def has_identity_map(self) -> bool:
        """Whether records carry an `identityMap` (identities keyed by namespace, each item may be
        flagged `primary`)."""
        return self.root.properties.get("identityMap", None) is not None

    @property
    def primary_identity(self) -> dict[str, Any] | None:
        """Where a record's primary identity is: the primary identity descriptor's field, else
        the `identityMap` item flagged primary, else None."""
        for identity in self.identities:
            if identity.primary:
                return {"path": identity.path, "namespace": identity.namespace}
        if self.has_identity_map:
            return {"path": "identityMap", "namespace": None}
        return None

    def field(self, dotted_path: str) -> Field:
        """The field at a dotted path, e.g. `commerce.order.priceTotal`; KeyError if absent."""
        return self.root.child(dotted_path)

    def fields(self) -> Iterator[tuple[str, Field]]:
        """Every `(dotted_path, field)` of the schema, depth first (arrays/maps not entered)."""
        return self.root.walk()

    def to_json(self) -> dict[str, Any]:
        """The custom-schema document this schema was (or could have been) built from."""
        document: dict[str, Any] = {
            "$id": self.id,
            "title": self.title,
            "class": self.class_id,
            "fieldGroups": list(self.field_groups),
        }
        if self.description:
            document["description"] = self.description
        if self.tenant_id:
            document["tenantId"] = self.tenant_id
        if self._tenant_fields is not None:
            document["tenantFields"] = copy.deepcopy(self._tenant_fields)
        if self.identities:
            document["descriptors"] = [identity.to_descriptor() for identity in self.identities]
        return document

    def definition(self) -> dict[str, Any]:
        """The schema as an XDM component document: `meta:class`, `meta:extends` and `allOf`."""
        all_of: list[dict[str, Any]] = [{"$ref": self.class_id}]
        all_of += [{"$ref": field_group} for field_group in self.field_groups]
        document: dict[str, Any] = {
            "$id": self.id,
            "title": self.title,
            "type": "object",
            "meta:class": self.class_id,
            "meta:abstract": False,
            "meta:extensible": False,
            "meta:extends": [self.class_id, *self.field_groups],
            "allOf": all_of,
        }
        if self.description:
            document["description"] = self.description
        if self.tenant_id and self._tenant_fields is not None:
            namespace = f"_{self.tenant_id}"
            document["meta:tenantNamespace"] = namespace
            document["definitions"] = {
                "tenant": {"properties": {namespace: {"type": "object", **self._tenant_fields}}}
            }
            all_of.append({"$ref": "#/definitions/tenant"})
        return document


def compose(
    class_id: str,
    field_groups: Sequence[str] = (),
    *,
    title: str,
    description: str | None = None,
    tenant_id: str | None = None,
    tenant_fields: Mapping[str, Any] | None = None,
    schema_id: str | None = None,
    registry: Registry | None = None,
) -> Schema:
    """Compose a schema from a class, field groups and tenant fields.

    `tenant_fields` is an object definition placed under `_<tenant_id>`:
    `{"properties": {"store": {"type": "integer"}, ...}, "required": ["store"]}`. When it has
    required fields the tenant object itself is required. `schema_id` defaults to
    `https://ns.adobe.com/<tenant_id or "xdm">/schemas/<hash of the definition>`.

    Raises `UnknownReferenceError`, `ReferenceCycleError`, `IncompatibleFieldGroupError`,
    `DuplicateFieldError` or `InvalidDefinitionError`.
    """
    if registry is None:
        from ._registry import standard_registry

        registry = standard_registry()
    if not title or not isinstance(title, str):
        raise InvalidDefinitionError("a schema needs a title")
    class_document = registry.lookup(class_id)
    if class_document is None:
        raise UnknownReferenceError(class_id, referenced_from="schema class")
    if registry.kind(class_id) != "class":
        raise InvalidDefinitionError(f"{class_id!r} is not a class")
    behavior_id = _behavior_of(class_document)
    resolver = Resolver(registry.lookup)
    properties: dict[str, Field] = {}
    required: list[str] = []
    # The behaviour first, so `_id`/`timestamp` exist even when a custom class does not `allOf`
    # it; components included twice are skipped before merging (same `source`).
    included: set[str] = set()
    for component_id in (behavior_id, class_id, *field_groups):
        if component_id in included:
            continue
        included.add(component_id)
        if component_id in field_groups:
            _check_field_group(registry, component_id, class_id, class_document)
        part = resolver.component(component_id, referenced_from="schema")
        for name, child in part.properties.items():
            merge_properties(properties, name, child, "")
        required.extend(part.required)
    generated_id = schema_id or _default_id(tenant_id, class_id, field_groups, title, tenant_fields)
    if tenant_fields is not None:
        if not tenant_id or not _TENANT_ID.match(tenant_id):
            raise InvalidDefinitionError(f"tenant fields need a valid tenantId, got {tenant_id!r}")
        _check_custom_names(tenant_fields, f"_{tenant_id}")
        tenant = resolver.property(
            f"_{tenant_id}",
            {"title": f"Tenant {tenant_id}", "type": "object", **tenant_fields},
            source=generated_id,
        )
        merge_properties(properties, tenant.name, tenant, "")
        if tenant.required:
            required.append(tenant.name)
    root = Field(
        name="",
        xdm_type="object",
        title=title,
        description=description,
        properties=properties,
        required=tuple(dict.fromkeys(required)),
        source=generated_id,
    )
    return Schema(
        schema_id=generated_id,
        title=title,
        description=description,
        class_id=class_id,
        field_groups=tuple(dict.fromkeys(field_groups)),
        tenant_id=tenant_id,
        tenant_fields=tenant_fields,
        behavior="time-series" if behavior_id == ids.TIME_SERIES else "record",
        root=root,
    )


def schema_from_json(document: Mapping[str, Any], *, registry: Registry | None = None) -> Schema:
    """Build a schema from its JSON document (the shape the catalog API accepts)::

    {
      "$id": "https://ns.adobe.com/acme/schemas/retail-sales",   # optional
      "title": "Retail sales",                                    # required
      "description": "Weekly sales per store",                    # optional
      "class": "https://ns.adobe.com/xdm/context/profile",         # required
      "fieldGroups": ["https://ns.adobe.com/xdm/context/identitymap"],  # optional
      "tenantId": "acme",                                         # with tenantFields
      "tenantFields": {"properties": {"store": {"type": "integer"}}, "required": ["store"]}
    }
    """
    if not isinstance(document, Mapping):
        raise InvalidDefinitionError("a schema document must be a JSON object")
    unknown = set(document) - _SCHEMA_KEYS
    if unknown:
        raise InvalidDefinitionError(f"unknown schema keys {sorted(unknown)}")
    class_id = document.get("class")
    if not isinstance(class_id, str):
        raise InvalidDefinitionError("a schema document needs a 'class' ($id of an XDM class)")
    field_groups = document.get("fieldGroups", [])
    if not isinstance(field_groups, list) or not all(isinstance(f, str) for f in field_groups):
        raise InvalidDefinitionError("'fieldGroups' must be a list of field group $ids")
    tenant_fields = document.get("tenantFields")
    if tenant_fields is not None and not isinstance(tenant_fields, Mapping):
        raise InvalidDefinitionError("'tenantFields' must be an object definition")
    for key in ("$id", "title", "description", "tenantId"):
        if key in document and not isinstance(document[key], str):
            raise InvalidDefinitionError(f"{key!r} must be a string")
    schema = compose(
        class_id,
        field_groups,
        title=document.get("title", ""),
        description=document.get("description"),
        tenant_id=document.get("tenantId"),
        tenant_fields=tenant_fields,
        schema_id=document.get("$id"),
        registry=registry,
    )
    schema.identities = _identities(schema, document.get("descriptors", []))
    return schema


def _identities(schema: Schema, descriptors: Any) -> tuple[Identity, ...]:
    """Identity descriptors checked against the schema: a string field outside arrays and maps,
    each field once, at most one primary."""
    if not isinstance(descriptors, list):
        raise InvalidDefinitionError("'descriptors' must be a list")
    identities: list[Identity] = []
    for index, descriptor in enumerate(descriptors):
        where = f"descriptors/{index}"
        if not isinstance(descriptor, Mapping) or descriptor.get("@type") != IDENTITY_DESCRIPTOR:
            raise InvalidDefinitionError(f"{where}: only {IDENTITY_DESCRIPTOR} is supported")
        pointer = descriptor.get("xdm:sourceProperty")
        namespace = descriptor.get("xdm:namespace")
        primary = descriptor.get("xdm:isPrimary", False)
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise InvalidDefinitionError(f"{where}: xdm:sourceProperty must be a JSON Pointer")
        if not isinstance(namespace, str) or not namespace:
            raise InvalidDefinitionError(f"{where}: xdm:namespace must be a namespace code")
        if not isinstance(primary, bool):
            raise InvalidDefinitionError(f"{where}: xdm:isPrimary must be a boolean")
        path = ".".join(part for part in pointer.split("/") if part)
        try:
            field = schema.field(path)
        except KeyError:
            raise InvalidDefinitionError(
                f"{where}: {pointer} is not a field of the schema (identities are fields outside "
                "arrays and maps)"
            ) from None
        if field.xdm_type != "string":
            raise InvalidDefinitionError(f"{where}: identity {pointer} must be a string field")
        if any(identity.path == path for identity in identities):
            raise InvalidDefinitionError(f"{where}: {pointer} is marked as an identity twice")
        identities.append(Identity(path, namespace, primary))
    if sum(identity.primary for identity in identities) > 1:
        raise InvalidDefinitionError("descriptors: at most one identity may be primary")
    return tuple(identities)


def _behavior_of(class_document: Mapping[str, Any]) -> str:
    extends = class_document.get("meta:extends") or []
    if isinstance(extends, str):
        extends = [extends]
    for parent in extends:
        if parent in BEHAVIOUR_IDS:
            return str(parent)
    raise InvalidDefinitionError(f"class {class_document.get('$id')!r} extends no behaviour")


def _check_field_group(
    registry: Registry, field_group: str, class_id: str, class_document: Mapping[str, Any]
) -> None:
    document = registry.lookup(field_group)
    if document is None:
        raise UnknownReferenceError(field_group, referenced_from="schema field groups")
    if registry.kind(field_group) != "fieldgroup":
        raise InvalidDefinitionError(f"{field_group!r} is not a field group")
    intended = list(document.get("meta:intendedToExtend") or [])
    if not intended:
        return  # an empty list means "any class" (IdentityMap is shared this way)
    extends = class_document.get("meta:extends") or []
    lineage = {class_id, *([extends] if isinstance(extends, str) else extends)}
    if not lineage.intersection(intended):
        raise IncompatibleFieldGroupError(field_group, class_id, intended)


def _check_custom_names(definition: Mapping[str, Any], path: str) -> None:
    properties = definition.get("properties", {})
    if not isinstance(properties, Mapping):
        raise InvalidDefinitionError(f"{path}: properties must be an object")
    for name, child in properties.items():
        if not isinstance(name, str) or not _CUSTOM_FIELD_NAME.match(name):
            raise InvalidDefinitionError(
                f"{path}: custom field name {name!r} must be letters, digits, '-' or '_' "
                "and may not start with '_'"
            )
        if isinstance(child, Mapping):
            _check_custom_names(child, f"{path}.{name}")
            items = child.get("items")
            if isinstance(items, Mapping):
                _check_custom_names(items, f"{path}.{name}[]")


def _default_id(
    tenant_id: str | None,
    class_id: str,
    field_groups: Sequence[str],
    title: str,
    tenant_fields: Mapping[str, Any] | None,
) -> str:
    # Deterministic, so the same definition gets the same id in tests and on re-submission.
    digest = hashlib.sha256(
        json.dumps([class_id, list(field_groups), title, tenant_fields], sort_keys=True).encode()
    ).hexdigest()[:32]
    return f"https://ns.adobe.com/{tenant_id or 'xdm'}/schemas/{digest}"
