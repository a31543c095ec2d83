"""Use cases of XDM schemas."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from dsw_catalog.models import Dataset, XdmSchema
from dsw_catalog.xdm_schemas.schemas import SchemaCreate
from dsw_kit.errors import Conflict, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_xdm import Schema, XDMError, feature_columns, schema_from_json


def compose(document: dict[str, Any]) -> Schema:
    """The libs/xdm schema of a document; 422 naming the problem when it does not compose."""
    try:
        return _compose_cached(_freeze(document))
    except XDMError as error:
        raise UnprocessableEntity(str(error), code="invalid_schema") from error


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
def _compose_cached(frozen: Any) -> Schema:
    # Composing resolves every $ref; schemas are immutable once stored, so cache by content.
    return schema_from_json(_thaw(frozen))


def create_schema(work: UnitOfWork, request: SchemaCreate) -> tuple[XdmSchema, Schema]:
    """Register a custom schema after composing it (so only valid schemas are stored)."""
    composed = compose(request.document())
    schema = XdmSchema(
        title=request.title,
        description=request.description,
        xdm_id=composed.id,
        class_id=composed.class_id,
        behavior=composed.behavior,
        document=composed.to_json(),
        tags=request.tags,
        created_by=work.context.subject,
    )
    work.session.add(schema)
    work.session.flush()
    return schema, composed


def get_schema(work: UnitOfWork, schema_id: uuid.UUID) -> XdmSchema:
    """A schema of the tenant, or 404."""
    schema = work.session.scalar(select(XdmSchema).where(XdmSchema.id == schema_id))
    if schema is None:
        raise NotFound(f"schema {schema_id} not found", code="schema_not_found")
    return schema


def fields_of(schema: XdmSchema) -> list[str]:
    """Dotted paths of the schema's leaf fields."""
    return feature_columns(compose(schema.document))


def delete_schema(work: UnitOfWork, schema: XdmSchema) -> None:
    """Delete a schema no live dataset uses (schemas in use are immutable)."""
    in_use = work.session.scalar(
        select(Dataset.id).where(Dataset.schema_id == str(schema.id), Dataset.deleted_at.is_(None))
    )
    if in_use is not None:
        raise Conflict("the schema is used by a dataset; it cannot change", code="schema_in_use")
    work.session.delete(schema)
