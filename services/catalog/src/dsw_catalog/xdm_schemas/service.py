"""Use cases of XDM schemas: composing them (standard and tenant components), their versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from dsw_catalog.models import Dataset, XdmSchema
from dsw_catalog.xdm_components import repository as components
from dsw_catalog.xdm_components.service import raise_if_breaking, registry_for
from dsw_catalog.xdm_schemas.schemas import SchemaCreate
from dsw_kit.db import utcnow
from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_xdm import (
    Registry,
    Schema,
    XDMError,
    compare,
    feature_columns,
    schema_from_json,
)


def compose(document: dict[str, Any], tenant_components: Sequence[dict[str, Any]] = ()) -> Schema:
    """The libs/xdm schema of a document whose tenant components are `tenant_components` (the
    snapshot stored with a schema version); 422 naming the problem when it does not compose."""
    try:
        return _compose_cached(_freeze(document), _freeze(list(tenant_components)))
    except XDMError as error:
        raise UnprocessableEntity(str(error), code="invalid_schema") from error


def composed(schema: XdmSchema, version: int | None = None) -> Schema:
    """A stored schema at `version` (None: the current one)."""
    document, tenant_components = version_of(schema, version)
    return compose(document, tenant_components)


def version_of(
    schema: XdmSchema, version: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document and tenant components of one version; 404 when there is no such version."""
    if version is None or version == schema.schema_version:
        return schema.document, list(schema.components or [])
    for entry in schema.history:
        if entry["version"] == version:
            return entry["document"], list(entry["components"])
    raise NotFound(f"schema {schema.id} has no version {version}", code="schema_version_not_found")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("__list__", tuple(_freeze(item) for item in value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [_thaw(item) for item in value[1]]
    if isinstance(value, tuple):
        return {key: _thaw(item) for key, item in value}
    return value


@lru_cache(maxsize=256)
def _compose_cached(frozen: Any, frozen_components: Any) -> Schema:
    # Composing resolves every $ref; schema versions are immutable once stored, so cache by
    # content (the standard registry when there are no tenant components).
    tenant_components = _thaw(frozen_components)
    registry = None
    if tenant_components:
        registry = Registry()
        for definition in tenant_components:
            registry.register(definition)
    document = _thaw(frozen)
    if registry is None:
        return schema_from_json(document)
    return registry.schema_from_json(document)


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _references(item)]
    return []


def _snapshot(work: UnitOfWork, document: dict[str, Any], *, new: bool) -> list[dict[str, Any]]:
    """The tenant components a schema document uses (with what they use), registration order.

    422 naming the pointer for an unknown class or field group, or (`new`) a deprecated one.
    """
    try:
        registry = registry_for(work.session)
    except XDMError as error:  # a stored component no longer registers: not the caller's fault
        raise UnprocessableEntity(str(error), code="invalid_tenant_components") from error
    rows = {row.xdm_id: row for row in components.all_components(work.session)}
    roots = [document.get("class"), *document.get("fieldGroups", [])]
    for index, root in enumerate(roots):
        pointer = "/body/class" if index == 0 else f"/body/fieldGroups/{index - 1}"
        if not isinstance(root, str) or root not in registry:
            message = f"unknown {'class' if index == 0 else 'field group'} {root!r}"
            raise UnprocessableEntity(
                message,
                code="invalid_schema",
                errors=[FieldError(pointer=pointer, message=message, code="unknown_reference")],
            )
        row = rows.get(root)
        if new and row is not None and row.status == "deprecated":
            message = f"{root!r} is deprecated: existing schemas keep it, new ones cannot add it"
            raise UnprocessableEntity(
                message,
                code="deprecated_component",
                errors=[FieldError(pointer=pointer, message=message, code="deprecated")],
            )
    roots += [ref.partition("#")[0] for ref in _references(document.get("tenantFields"))]
    used: set[str] = set()
    for root in roots:
        if isinstance(root, str) and root in rows:
            used.add(root)
            used.update(d for d in registry.dependencies(root) if d in rows)
    return [row.definition for xdm_id, row in rows.items() if xdm_id in used]


def create_schema(work: UnitOfWork, request: SchemaCreate) -> tuple[XdmSchema, Schema]:
    """Register a custom schema after composing it (so only valid schemas are stored)."""
    document = request.document()
    tenant_components = _snapshot(work, document, new=True)
    result = compose(document, tenant_components)
    schema = XdmSchema(
        title=request.title,
        description=request.description,
        xdm_id=result.id,
        class_id=result.class_id,
        behavior=result.behavior,
        document=result.to_json(),
        components=tenant_components,
        tags=request.tags,
        created_by=work.context.subject,
    )
    work.session.add(schema)
    work.session.flush()
    return schema, result


def evolve_schema(
    work: UnitOfWork, schema: XdmSchema, request: SchemaCreate
) -> tuple[XdmSchema, Schema]:
    """A new version when the change is compatible (datasets move to it explicitly); 409
    listing each breaking difference otherwise. No difference: the schema as it is."""
    document = {**request.document(), "$id": schema.xdm_id}
    tenant_components = _snapshot(work, document, new=False)
    after = compose(document, tenant_components)
    before = composed(schema)
    if after.class_id != before.class_id:
        raise Conflict("a schema's class cannot change", code="breaking_change")
    changes = compare(before, after)
    raise_if_breaking(changes, "schema")
    new_document = after.to_json()
    if new_document == schema.document and tenant_components == schema.components:
        return schema, after
    schema.history = [
        *schema.history,
        {
            "version": schema.schema_version,
            "document": schema.document,
            "components": schema.components,
            "created": schema.updated.isoformat(),
        },
    ]
    schema.schema_version += 1
    schema.document = new_document
    schema.components = tenant_components
    schema.title = request.title
    schema.description = request.description
    if request.tags:
        schema.tags = request.tags
    schema.updated = utcnow()
    work.session.flush()
    return schema, after


def get_schema(work: UnitOfWork, schema_id: uuid.UUID) -> XdmSchema:
    """A schema of the tenant, or 404."""
    schema = work.session.scalar(select(XdmSchema).where(XdmSchema.id == schema_id))
    if schema is None:
        raise NotFound(f"schema {schema_id} not found", code="schema_not_found")
    return schema


def fields_of(schema: XdmSchema) -> list[str]:
    """Dotted paths of the schema's leaf fields."""
    return feature_columns(composed(schema))


def delete_schema(work: UnitOfWork, schema: XdmSchema) -> None:
    """Delete a schema no live dataset uses (schemas in use are immutable)."""
    in_use = work.session.scalar(
        select(Dataset.id).where(Dataset.schema_id == str(schema.id), Dataset.deleted_at.is_(None))
    )
    if in_use is not None:
        raise Conflict(
            "the schema is used by a dataset; it cannot be deleted", code="schema_in_use"
        )
    work.session.delete(schema)
