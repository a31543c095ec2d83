"""Routes of services: publish, list, change, revisions, traffic, promotion, API keys, decisions."""

from __future__ import annotations

import uuid

from dsw_recipe import metric_direction
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from dsw_kit.errors import problem_responses
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_serving.models import Decision, IdempotencyKey, Service
from dsw_serving.predict.registry import registry_of
from dsw_serving.publishing import service as services
from dsw_serving.publishing.resolve import ResolvedModel, resolve_policy, resolve_run
from dsw_serving.publishing.schedules import (
    create_schedules,
    delete_schedules,
    follow_live_revision,
)
from dsw_serving.publishing.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    DecisionOut,
    PromoteIn,
    RevisionCreate,
    RevisionOut,
    ServiceCreate,
    ServiceOut,
    ServicePatch,
    SourceIn,
    TrafficIn,
)
from dsw_serving.upstream import Upstreams, get_upstreams

router = APIRouter(prefix="/serving/v1", tags=["services"])


def _tracking_uri(request: Request) -> str:
    return str(request.app.state.runtime.settings.platform.resolved_mlflow_tracking_uri)


def _resolve(
    work: UnitOfWork, upstreams: Upstreams, source: SourceIn, tracking_uri: str
) -> ResolvedModel:
    with upstreams.training.for_request(work.context) as training:
        if source.training_run_id is not None:
            return resolve_run(
                training, str(source.training_run_id), tracking_uri, "/body/source/training_run_id"
            )
        assert source.model_id is not None
        return resolve_policy(
            training,
            str(source.model_id),
            source.policy,
            source.metric,
            source.direction or metric_direction(source.metric or "rmse"),
            tracking_uri,
        )


def _changed(request: Request, work: UnitOfWork, service: Service) -> ServiceOut:
    # This process picks the change up once committed; the others on their next poll.
    registry_of(request.app.state.runtime).wake_after_commit(work.session)
    return ServiceOut.of(service)


def _live_changed(request: Request, work: UnitOfWork, service: Service) -> ServiceOut:
    """A change that may have moved the live revision (its scoring schedule follows it)."""
    follow_live_revision(work.session, service, _tracking_uri(request))
    return _changed(request, work, service)


def _etag(out: object) -> dict[str, str]:
    assert isinstance(out, ServiceOut)
    return {"ETag": f'"{out.version}"'}


@router.post(
    "/services",
    status_code=201,
    response_model=ServiceOut,
    responses=problem_responses(409, 422, 502, 503),
    summary="Publish a trained model as a service; honours Idempotency-Key",
)
def publish_service(
    body: ServiceCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("serving:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> JSONResponse:
    def create() -> ServiceOut:
        tracking_uri = _tracking_uri(request)
        model = _resolve(work, upstreams, body.source, tracking_uri)
        service = services.publish_service(
            work.session, work.publish, work.context.subject, body, model
        )
        first = services.get_revision(work.session, service, 1, "/body/source")
        key = request.headers.get("idempotency-key")
        create_schedules(work.context, upstreams, service, body, first, tracking_uri, key)
        work.session.flush()
        return _changed(request, work, service)

    return idempotent_create(work, IdempotencyKey, body, create, headers=_etag)


@router.get(
    "/services",
    response_model=Page[ServiceOut],
    responses=problem_responses(400),
    summary="List services (newest first by default)",
)
def list_services(
    params: PageParams = Depends(), work: UnitOfWork = unit_of_work("serving:read")
) -> Page[ServiceOut]:
    return paginate(
        work.session,
        select(Service),
        params=params,
        sortable={"created": Service.created, "updated": Service.updated, "name": Service.name},
        tiebreaker=Service.id,
        to_item=ServiceOut.of,
    )


@router.get(
    "/services/{name}",
    response_model=ServiceOut,
    responses=problem_responses(404),
    summary="Get a service: source, promotion policy, traffic",
)
def get_service(
    name: str, response: Response, work: UnitOfWork = unit_of_work("serving:read")
) -> ServiceOut:
    service = services.get_service(work.session, name)
    response.headers["ETag"] = service.etag
    return ServiceOut.of(service)


@router.patch(
    "/services/{name}",
    response_model=ServiceOut,
    responses=problem_responses(404, 412, 422),
    summary="Change a service's description, pinning or promotion policy (If-Match)",
)
def patch_service(
    name: str,
    body: ServicePatch,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("serving:write"),
) -> ServiceOut:
    service = services.get_service(work.session, name)
    check_if_match(request, service.etag)
    if body.description is not None:
        service.description = body.description
    if body.pinned is not None:
        service.pinned = body.pinned
    if body.tags is not None:
        service.tags = list(body.tags)
    if body.promotion is not None:
        source = SourceIn.model_validate(service.policy["source"])
        service.policy = {
            **service.policy,
            "promotion": services.promotion_policy(body.promotion, source),
        }
    if "batching" in body.model_fields_set:
        service.batching = body.batching.model_dump() if body.batching is not None else None
    work.session.flush()
    services.announce(work.publish, service, "updated")
    response.headers["ETag"] = service.etag
    return _changed(request, work, service)


@router.delete(
    "/services/{name}",
    status_code=204,
    responses=problem_responses(404, 412),
    summary="Unpublish a service: its keys stop working, its schedules are deleted",
)
def delete_service(
    name: str,
    request: Request,
    work: UnitOfWork = unit_of_work("serving:admin"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> Response:
    service = services.get_service(work.session, name)
    check_if_match(request, service.etag)
    delete_schedules(work.context, upstreams, service, _tracking_uri(request))
    services.announce(work.publish, service, "deleted")
    work.session.delete(service)
    work.session.flush()
    registry_of(request.app.state.runtime).wake_after_commit(work.session)
    return Response(status_code=204)


@router.get(
    "/services/{name}/revisions",
    response_model=list[RevisionOut],
    responses=problem_responses(404),
    summary="A service's revisions, newest first",
)
def list_revisions(name: str, work: UnitOfWork = unit_of_work("serving:read")) -> list[RevisionOut]:
    service = services.get_service(work.session, name)
    return [RevisionOut.of(revision) for revision in services.revisions(work.session, service)]


@router.post(
    "/services/{name}/revisions",
    status_code=201,
    response_model=RevisionOut,
    responses=problem_responses(404, 422, 502, 503),
    summary="A new revision from a source (default: the service's own source, resolved again)",
)
def create_revision(
    name: str,
    body: RevisionCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("serving:write"),
    upstreams: Upstreams = Depends(get_upstreams),
) -> RevisionOut:
    service = services.get_service(work.session, name)
    source = body.source or SourceIn.model_validate(service.policy["source"])
    model = _resolve(work, upstreams, source, _tracking_uri(request))
    revision = services.add_revision(work.session, service, model, origin="manual")
    if body.promote:
        services.promote(work.session, work.publish, service, revision.number)
    _live_changed(request, work, service)
    return RevisionOut.of(revision)


@router.put(
    "/services/{name}/traffic",
    response_model=ServiceOut,
    responses=problem_responses(404, 412, 422),
    summary="Route requests: one revision, a canary split between two, or a shadow (If-Match)",
)
def put_traffic(
    name: str,
    body: TrafficIn,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("serving:write"),
) -> ServiceOut:
    service = services.get_service(work.session, name)
    check_if_match(request, service.etag)
    services.set_traffic(work.session, work.publish, service, body)
    response.headers["ETag"] = service.etag
    return _live_changed(request, work, service)


@router.post(
    "/services/{name}/promote",
    response_model=ServiceOut,
    responses=problem_responses(404, 412, 422),
    summary="Send all traffic to a revision (e.g. a canary that proved itself)",
)
def promote(
    name: str,
    body: PromoteIn,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("serving:write"),
) -> ServiceOut:
    service = services.get_service(work.session, name)
    check_if_match(request, service.etag)
    services.promote(work.session, work.publish, service, body.revision)
    response.headers["ETag"] = service.etag
    return _live_changed(request, work, service)


@router.post(
    "/services/{name}/rollback",
    response_model=ServiceOut,
    responses=problem_responses(404, 409, 412),
    summary="Send all traffic back to the revision that was live before the last promotion",
)
def rollback(
    name: str,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("serving:write"),
) -> ServiceOut:
    service = services.get_service(work.session, name)
    check_if_match(request, service.etag)
    services.rollback(work.session, work.publish, service)
    response.headers["ETag"] = service.etag
    return _live_changed(request, work, service)


@router.post(
    "/services/{name}/keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(404, 422),
    summary="Create an API key for an application (the key is shown only in this response)",
)
def create_key(
    name: str,
    body: ApiKeyCreate,
    request: Request,
    work: UnitOfWork = unit_of_work("serving:admin"),
) -> ApiKeyCreated:
    service = services.get_service(work.session, name)
    key, secret = services.create_key(work.session, service, body.name, work.context.subject)
    service.updated = key.created  # every process reloads the service's keys
    work.session.flush()
    registry_of(request.app.state.runtime).wake_after_commit(work.session)
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get(
    "/services/{name}/keys",
    response_model=list[ApiKeyOut],
    responses=problem_responses(404),
    summary="A service's API keys (never their secrets)",
)
def list_keys(name: str, work: UnitOfWork = unit_of_work("serving:admin")) -> list[ApiKeyOut]:
    service = services.get_service(work.session, name)
    return [ApiKeyOut.of(key) for key in services.list_keys(work.session, service)]


@router.delete(
    "/services/{name}/keys/{key_id}",
    response_model=ApiKeyOut,
    responses=problem_responses(404),
    summary="Revoke an API key (requests with it are refused from then on)",
)
def revoke_key(
    name: str, key_id: uuid.UUID, request: Request, work: UnitOfWork = unit_of_work("serving:admin")
) -> ApiKeyOut:
    service = services.get_service(work.session, name)
    key = services.revoke_key(work.session, service, key_id)
    registry = registry_of(request.app.state.runtime)
    registry.forget_key(key.key_hash)
    registry.wake_after_commit(work.session)
    return ApiKeyOut.of(key)


@router.get(
    "/services/{name}/decisions",
    response_model=list[DecisionOut],
    responses=problem_responses(404),
    summary="What automatic promotion decided about new training runs, and why (newest first)",
)
def list_decisions(name: str, work: UnitOfWork = unit_of_work("serving:read")) -> list[DecisionOut]:
    service = services.get_service(work.session, name)
    decisions = work.session.scalars(
        select(Decision)
        .where(Decision.service_id == service.id)
        .order_by(Decision.created.desc())
        .limit(100)
    )
    return [DecisionOut.of(decision) for decision in decisions]
