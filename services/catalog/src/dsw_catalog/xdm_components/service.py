"""Use cases of tenant XDM components: create, evolve, deprecate and delete field groups and
data types, and the registry (standard + tenant components) schemas compose against."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from dsw_catalog.models import XdmComponent
from dsw_catalog.xdm_components import repository
from dsw_catalog.xdm_components.schemas import ComponentCreate
from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_xdm import (
    DuplicateFieldError,
    Field,
    IncompatibleFieldGroupError,
    ReferenceCycleError,
    Registry,
    UnknownReferenceError,
    XDMError,
    compare,
    pointers_to,
)


def registry_for(session: Session, replace: Mapping[str, dict[str, Any]] | None = None) -> Registry:
    """The standard components plus the tenant's, registered in creation order (`replace`:
    definitions to use instead of the stored ones, by `$id`). Raises the first `XDMError`."""
    registry = Registry()
    for row in repository.all_components(session):
        registry.register((replace or {}).get(row.xdm_id, row.definition))
    return registry


def leaf_paths(field: Field) -> list[str]:
    """Dotted paths of the leaf fields under an object field."""
    return [path for path, child in field.walk() if child.xdm_type != "object"]


def invalid(error: XDMError, document: Mapping[str, Any], *, prefix: str = "/body") -> Exception:
    """A 422 naming the JSON Pointer (into the request body) of what is wrong."""
    pointers: list[str] = []
    code = "invalid_component"
    if isinstance(error, UnknownReferenceError):
        code = "unknown_reference"
        pointers = pointers_to(document, ref=error.ref)
        intended = list(document.get("meta:intendedToExtend") or [])
        if error.ref in intended:
            pointers.append(f"/meta:intendedToExtend/{intended.index(error.ref)}")
    elif isinstance(error, ReferenceCycleError):
        code = "reference_cycle"
        for link in error.chain[1:]:
            component, _, fragment = link.partition("#")
            pointers += pointers_to(document, ref=component)
            if fragment:
                pointers += _local_refs(document, f"#{fragment}")
    elif isinstance(error, IncompatibleFieldGroupError):
        code = "class_mismatch"
        pointers = ["/meta:intendedToExtend"]
    elif isinstance(error, DuplicateFieldError):
        code = "duplicate_field"
        pointers = pointers_to(document, field_path=error.path)
    pointer = prefix + (pointers[0] if pointers else "")
    return UnprocessableEntity(
        str(error), code=code, errors=[FieldError(pointer=pointer, message=str(error), code=code)]
    )


def _local_refs(node: Any, ref: str, pointer: str = "") -> list[str]:
    if isinstance(node, Mapping):
        found = [pointer + "/$ref"] if node.get("$ref") == ref else []
        for key, value in node.items():
            token = str(key).replace("~", "~0").replace("/", "~1")
            found += _local_refs(value, ref, f"{pointer}/{token}")
        return found
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in _local_refs(item, ref, f"{pointer}/{i}")]
    return []


def _check_namespace(registry: Registry, xdm_id: str, tenant_id: str) -> Field:
    resolved = registry.resolve(xdm_id)
    outside = sorted(set(resolved.properties) - {f"_{tenant_id}"})
    if outside:
        pointer = f"/body/properties/{outside[0]}"
        message = (
            f"a tenant field group's fields live under '_{tenant_id}'; {outside} are outside it"
        )
        raise UnprocessableEntity(
            message,
            code="outside_tenant_namespace",
            errors=[FieldError(pointer=pointer, message=message, code="outside_tenant_namespace")],
        )
    return resolved


def create_component(
    work: UnitOfWork, kind: str, body: ComponentCreate
) -> tuple[XdmComponent, list[str]]:
    """Validate and store a tenant field group (`kind` fieldgroup) or data type (datatype)."""
    folder = "mixins" if kind == "fieldgroup" else "datatypes"
    xdm_id = f"https://ns.adobe.com/{body.tenant_id}/{folder}/{uuid.uuid4().hex}"
    definition = body.definition(xdm_id, kind)
    registry = registry_for(work.session)
    try:
        registry.register(definition)
    except XDMError as error:
        raise invalid(error, definition) from error
    resolved = (
        _check_namespace(registry, xdm_id, body.tenant_id)
        if kind == "fieldgroup"
        else registry.resolve(xdm_id)
    )
    component = XdmComponent(
        xdm_id=xdm_id,
        kind=kind,
        tenant_id=body.tenant_id,
        title=body.title,
        description=body.description,
        definition=definition,
        created_by=work.context.subject,
    )
    work.session.add(component)
    work.session.flush()
    return component, leaf_paths(resolved)


def get_component(work: UnitOfWork, kind: str, component_id: uuid.UUID) -> XdmComponent:
    """A tenant component of this kind, or 404."""
    component = repository.get(work.session, component_id)
    if component is None or component.kind != kind:
        raise NotFound(f"{kind} {component_id} not found", code="component_not_found")
    return component


def fields_of(work: UnitOfWork, component: XdmComponent) -> list[str]:
    """Leaf field paths of a stored component."""
    return leaf_paths(registry_for(work.session).resolve(component.xdm_id))


def evolve_component(
    work: UnitOfWork, component: XdmComponent, body: ComponentCreate
) -> tuple[XdmComponent, list[str]]:
    """A new version of the component when the change is compatible; 409 listing each breaking
    difference otherwise. Schemas pick the new version up when they are evolved themselves."""
    if body.tenant_id != component.tenant_id:
        raise UnprocessableEntity(
            "a component's tenantId cannot change",
            code="tenant_changed",
            errors=[FieldError(pointer="/body/tenantId", message="cannot change")],
        )
    definition = body.definition(component.xdm_id, component.kind)
    before = registry_for(work.session).resolve(component.xdm_id)
    try:
        registry = registry_for(work.session, replace={component.xdm_id: definition})
    except XDMError as error:
        raise invalid(error, definition) from error
    after = (
        _check_namespace(registry, component.xdm_id, component.tenant_id)
        if component.kind == "fieldgroup"
        else registry.resolve(component.xdm_id)
    )
    changes = compare(before, after)
    raise_if_breaking(changes, "component")
    if definition != component.definition:
        component.history = [
            *component.history,
            {"version": component.component_version, "definition": component.definition},
        ]
        component.component_version += 1
        component.definition = definition
        component.title = body.title
        component.description = body.description
        work.session.flush()
    return component, leaf_paths(after)


def raise_if_breaking(changes: list[Any], what: str) -> None:
    """409 listing every breaking difference (pointer: the field, code: what changed)."""
    breaking = [change for change in changes if change.breaking]
    if breaking:
        raise Conflict(
            f"the new {what} is not compatible: "
            + "; ".join(change.message for change in breaking),
            code="breaking_change",
            errors=[
                FieldError(
                    pointer="/" + change.path.replace(".", "/"),
                    message=change.message,
                    code=change.kind,
                )
                for change in breaking
            ],
        )


def deprecate_component(work: UnitOfWork, component: XdmComponent) -> XdmComponent:
    """Mark deprecated: schemas using it keep working, new schemas cannot add it."""
    component.status = "deprecated"
    work.session.flush()
    return component


def delete_component(work: UnitOfWork, component: XdmComponent) -> None:
    """Delete a component no schema (any version) and no other component uses; else 409."""
    users = [str(schema.id) for schema in repository.schemas_using(work.session, component.xdm_id)]
    registry = registry_for(work.session)
    users += [
        other.xdm_id
        for other in repository.all_components(work.session)
        if other.xdm_id != component.xdm_id
        and component.xdm_id in registry.dependencies(other.xdm_id)
    ]
    if users:
        raise Conflict(
            f"the component is used by {', '.join(users)}; it cannot be deleted",
            code="component_in_use",
        )
    work.session.delete(component)
