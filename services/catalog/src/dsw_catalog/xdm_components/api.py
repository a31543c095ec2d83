"""Routes of the tenant's own XDM field groups and data types."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from dsw_catalog.models import IdempotencyKey
from dsw_catalog.xdm_components import repository, service
from dsw_catalog.xdm_components.schemas import KIND_OF, ComponentCreate, ComponentOut, Kind
from dsw_kit.errors import problem_responses
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work

router = APIRouter(prefix="/catalog/v1/xdm/tenant", tags=["tenant components"])


@router.post(
    "/{kind}",
    status_code=201,
    response_model=ComponentOut,
    responses=problem_responses(422),
    summary="Create a tenant field group or data type",
)
def create_component(
    kind: Kind, body: ComponentCreate, work: UnitOfWork = unit_of_work("catalog:write")
) -> JSONResponse:
    def create() -> ComponentOut:
        component, fields = service.create_component(work, KIND_OF[kind], body)
        return ComponentOut.of(component, fields)

    return idempotent_create(work, IdempotencyKey, body, create)


@router.get("/{kind}", response_model=list[ComponentOut], summary="List tenant components")
def list_components(
    kind: Kind, work: UnitOfWork = unit_of_work("catalog:read")
) -> list[ComponentOut]:
    registry = service.registry_for(work.session)
    return [
        ComponentOut.of(c, service.leaf_paths(registry.resolve(c.xdm_id)))
        for c in repository.components_of_kind(work.session, KIND_OF[kind])
    ]


@router.get(
    "/{kind}/{component_id}",
    response_model=ComponentOut,
    responses=problem_responses(404),
    summary="Get a tenant component",
)
def get_component(
    kind: Kind,
    component_id: uuid.UUID,
    response: Response,
    work: UnitOfWork = unit_of_work("catalog:read"),
) -> ComponentOut:
    component = service.get_component(work, KIND_OF[kind], component_id)
    response.headers["ETag"] = component.etag
    return ComponentOut.of(component, service.fields_of(work, component))


@router.put(
    "/{kind}/{component_id}",
    response_model=ComponentOut,
    responses=problem_responses(404, 409, 412, 422),
    summary="Evolve a tenant component (compatible changes only; 409 lists breaking ones)",
)
def evolve_component(
    kind: Kind,
    component_id: uuid.UUID,
    body: ComponentCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("catalog:write"),
) -> ComponentOut:
    component = service.get_component(work, KIND_OF[kind], component_id)
    if request.headers.get("If-Match"):
        check_if_match(request, component.etag)
    component, fields = service.evolve_component(work, component, body)
    return ComponentOut.of(component, fields)


@router.post(
    "/{kind}/{component_id}/deprecate",
    response_model=ComponentOut,
    responses=problem_responses(404),
    summary="Deprecate a tenant component (existing schemas keep it, new ones cannot add it)",
)
def deprecate_component(
    kind: Kind, component_id: uuid.UUID, work: UnitOfWork = unit_of_work("catalog:write")
) -> ComponentOut:
    component = service.get_component(work, KIND_OF[kind], component_id)
    service.deprecate_component(work, component)
    return ComponentOut.of(component, service.fields_of(work, component))


@router.delete(
    "/{kind}/{component_id}",
    status_code=204,
    responses=problem_responses(404, 409, 412),
    summary="Delete a tenant component no schema or component uses",
)
def delete_component(
    kind: Kind,
    component_id: uuid.UUID,
    request: Request,
    work: UnitOfWork = unit_of_work("catalog:write"),
) -> Response:
    component = service.get_component(work, KIND_OF[kind], component_id)
    check_if_match(request, component.etag)
    service.delete_component(work, component)
    return Response(status_code=204)
