"""Routes of XDM schemas: the standard components and the tenant's custom schemas."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from dsw_catalog.models import IdempotencyKey, XdmSchema
from dsw_catalog.xdm_components.service import registry_for
from dsw_catalog.xdm_schemas import service
from dsw_catalog.xdm_schemas.schemas import (
    ArrowField,
    ComponentOut,
    SchemaCreate,
    SchemaOut,
    SchemaVersionOut,
)
from dsw_kit.auth import RequestContext, require
from dsw_kit.errors import NotFound, problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_xdm import (
    ComponentNotFoundError,
    feature_columns,
    standard_registry,
    to_arrow_schema,
    to_json_schema,
)

router = APIRouter(prefix="/catalog/v1", tags=["schemas"])
Kind = Literal["classes", "fieldgroups", "datatypes", "behaviors"]


@router.get(
    "/xdm/components",
    response_model=ComponentOut,
    responses=problem_responses(404),
    summary="Get a standard or tenant component by $id",
)
def get_component(
    id: str = Query(..., description="The component's $id"),
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> ComponentOut:
    try:
        registry = standard_registry() if id in standard_registry() else registry_for(work.session)
        component = registry.get(id)
    except ComponentNotFoundError as error:
        raise NotFound(f"no component {id!r}", code="component_not_found") from error
    return ComponentOut(
        id=component.id,
        kind=component.kind,
        title=component.title,
        description=component.description,
        definition=component.to_json(),
    )


@router.get("/xdm/{kind}", response_model=list[ComponentOut], summary="List standard components")
def list_components(
    kind: Kind,
    for_class: str | None = Query(None, description="Field groups that fit this class $id"),
    _: RequestContext = Depends(require("catalog:read")),
) -> list[ComponentOut]:
    registry = standard_registry()
    components = {
        "classes": registry.classes,
        "datatypes": registry.data_types,
        "behaviors": registry.behaviors,
    }
    found = (
        registry.field_groups(for_class=for_class) if kind == "fieldgroups" else components[kind]()
    )
    return [
        ComponentOut(id=c.id, kind=c.kind, title=c.title, description=c.description) for c in found
    ]


@router.post(
    "/schemas",
    status_code=201,
    response_model=SchemaOut,
    responses=problem_responses(422),
    summary="Create a custom schema (class + field groups + tenant fields)",
)
def create_schema(
    body: SchemaCreate, work: UnitOfWork = unit_of_work("catalog:write")
) -> JSONResponse:
    def create() -> SchemaOut:
        schema, composed = service.create_schema(work, body)
        return SchemaOut.of(schema, composed)

    return idempotent_create(work, IdempotencyKey, body, create)


@router.get("/schemas", response_model=Page[SchemaOut], summary="List custom schemas")
def list_schemas(
    params: PageParams = Depends(), work: UnitOfWork = unit_of_work("catalog:read")
) -> Page[SchemaOut]:
    return paginate(
        work.session,
        select(XdmSchema),
        params=params,
        sortable={"created": XdmSchema.created, "title": XdmSchema.title},
        tiebreaker=XdmSchema.id,
        to_item=lambda schema: SchemaOut.of(schema, service.composed(schema)),
    )


@router.get(
    "/schemas/{schema_id}",
    response_model=SchemaOut,
    responses=problem_responses(404),
    summary="Get a custom schema",
)
def get_schema(
    schema_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("catalog:read")
) -> SchemaOut:
    schema = service.get_schema(work, schema_id)
    response.headers["ETag"] = schema.etag
    return SchemaOut.of(schema, service.composed(schema))


@router.put(
    "/schemas/{schema_id}",
    response_model=SchemaOut,
    responses=problem_responses(404, 409, 412, 422),
    summary="Evolve a schema: a compatible change makes a new version, a breaking one is a 409",
)
def evolve_schema(
    schema_id: uuid.UUID,
    body: SchemaCreate,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("catalog:write"),
) -> SchemaOut:
    schema = service.get_schema(work, schema_id)
    check_if_match(request, schema.etag)
    schema, composed = service.evolve_schema(work, schema, body)
    response.headers["ETag"] = schema.etag
    return SchemaOut.of(schema, composed)


@router.get(
    "/schemas/{schema_id}/versions",
    response_model=list[SchemaVersionOut],
    responses=problem_responses(404),
    summary="Every version of a schema, oldest first",
)
def list_schema_versions(
    schema_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")
) -> list[SchemaVersionOut]:
    schema = service.get_schema(work, schema_id)
    numbers = [entry["version"] for entry in schema.history] + [schema.schema_version]
    return [_version_out(schema, number) for number in numbers]


@router.get(
    "/schemas/{schema_id}/versions/{version}",
    response_model=SchemaVersionOut,
    responses=problem_responses(404),
    summary="One version of a schema",
)
def get_schema_version(
    schema_id: uuid.UUID, version: int, work: UnitOfWork = unit_of_work("catalog:read")
) -> SchemaVersionOut:
    return _version_out(service.get_schema(work, schema_id), version)


def _version_out(schema: XdmSchema, version: int) -> SchemaVersionOut:
    document, components = service.version_of(schema, version)
    return SchemaVersionOut(
        version=version,
        current=version == schema.schema_version,
        document=document,
        components=[c["$id"] for c in components],
        fields=feature_columns(service.compose(document, components)),
    )


@router.get(
    "/schemas/{schema_id}/xdm",
    responses=problem_responses(404),
    summary="The schema as an XDM definition (allOf of class, field groups, tenant)",
)
def get_schema_xdm(
    schema_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")
) -> dict[str, Any]:
    return service.composed(service.get_schema(work, schema_id)).definition()


@router.get(
    "/schemas/{schema_id}/jsonschema",
    responses=problem_responses(404),
    summary="The schema as plain JSON Schema (draft 2020-12)",
)
def get_schema_json_schema(
    schema_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")
) -> dict[str, Any]:
    return to_json_schema(service.composed(service.get_schema(work, schema_id)))


@router.get(
    "/schemas/{schema_id}/arrow",
    response_model=list[ArrowField],
    responses=problem_responses(404),
    summary="The Arrow (Parquet) columns datasets of this schema are stored with",
)
def get_schema_arrow(
    schema_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:read")
) -> list[ArrowField]:
    arrow = to_arrow_schema(service.composed(service.get_schema(work, schema_id)))
    return [ArrowField(name=f.name, type=str(f.type), nullable=f.nullable) for f in arrow]


@router.delete(
    "/schemas/{schema_id}",
    status_code=204,
    responses=problem_responses(404, 409, 412),
    summary="Delete a schema no dataset uses",
)
def delete_schema(
    schema_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("catalog:write")
) -> Response:
    schema = service.get_schema(work, schema_id)
    check_if_match(request, schema.etag)
    service.delete_schema(work, schema)
    return Response(status_code=204)
