"""Use cases of services: publish, revise, route traffic, promote, keys. Adds and flushes only."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsw_contracts import EventPayload
from dsw_contracts.serving import ServingServiceChanged
from dsw_kit.db import utcnow
from dsw_kit.errors import Conflict, NotFound
from dsw_serving.models import ApiKey, Revision, Service
from dsw_serving.publishing.resolve import ResolvedModel, unprocessable
from dsw_serving.publishing.schemas import PromotionIn, ServiceCreate, SourceIn, TrafficIn

Publish = Callable[[str, str, EventPayload], Any]
KEY_PREFIX = "dsk_"


def get_service(session: Session, name: str) -> Service:
    """The tenant's service called ``name`` (404 otherwise, also for other tenants' services)."""
    service = session.scalar(select(Service).where(Service.name == name))
    if service is None:
        raise NotFound(f"service {name!r} not found", code="service_not_found")
    return service


def promotion_policy(promotion: PromotionIn, source: SourceIn) -> dict[str, Any]:
    """The stored promotion policy, with the metric defaulting to the source's."""
    values = promotion.model_dump(mode="json")
    values["metric"] = promotion.metric or source.metric or "rmse"
    values["direction"] = promotion.direction or source.direction
    return values


def publish_service(
    session: Session, publish: Publish, subject: str, body: ServiceCreate, model: ResolvedModel
) -> Service:
    """A new service whose revision 1 serves ``model``."""
    if session.scalar(select(Service.id).where(Service.name == body.name)) is not None:
        raise Conflict(f"a service named {body.name!r} exists", code="service_exists")
    service = Service(
        name=body.name,
        description=body.description,
        training_model_id=model.training_model_id,
        policy={
            "source": body.source.model_dump(mode="json"),
            "promotion": promotion_policy(body.promotion, body.source),
        },
        batching=body.batching.model_dump() if body.batching is not None else None,
        created_by=subject,
        tags=list(body.tags),
    )
    session.add(service)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent publish of the same name won
        raise Conflict(f"a service named {body.name!r} exists", code="service_exists") from error
    add_revision(session, service, model, origin="publish")
    service.primary_revision = 1
    session.flush()
    announce(publish, service, "published")
    return service


def add_revision(session: Session, service: Service, model: ResolvedModel, origin: str) -> Revision:
    """The service's next revision, serving ``model``."""
    service.revision_count += 1
    revision = Revision(
        service_id=service.id,
        number=service.revision_count,
        training_run_id=model.training_run_id,
        training_model_id=model.training_model_id,
        model_uri=model.model_uri,
        registered_model=model.registered_model,
        model_version=model.model_version,
        metrics=dict(model.metrics),
        task_type=model.task_type,
        recipe=model.recipe,
        inputs=list(model.inputs),
        origin=origin,
    )
    session.add(revision)
    session.flush()
    return revision


def revisions(session: Session, service: Service) -> list[Revision]:
    """Every revision of ``service``, newest first."""
    return list(
        session.scalars(
            select(Revision)
            .where(Revision.service_id == service.id)
            .order_by(Revision.number.desc())
        )
    )


def get_revision(session: Session, service: Service, number: int, pointer: str) -> Revision:
    """Revision ``number`` of ``service`` (422 naming ``pointer`` when there is none)."""
    revision = session.scalar(
        select(Revision).where(Revision.service_id == service.id, Revision.number == number)
    )
    if revision is None:
        raise unprocessable(
            f"service {service.name!r} has no revision {number}", "revision_not_found", pointer
        )
    return revision


def set_traffic(session: Session, publish: Publish, service: Service, traffic: TrafficIn) -> None:
    """Route requests as ``traffic`` says (every revision named must exist)."""
    get_revision(session, service, traffic.revision, "/body/revision")
    if traffic.secondary_revision is not None:
        get_revision(session, service, traffic.secondary_revision, "/body/secondary_revision")
    if traffic.revision != service.primary_revision:
        service.previous_revision = service.primary_revision
    service.mode = traffic.mode
    service.primary_revision = traffic.revision
    service.secondary_revision = traffic.secondary_revision if traffic.mode != "single" else None
    service.canary_percent = traffic.percent if traffic.mode == "canary" else 0
    session.flush()
    announce(publish, service, "updated")


def promote(session: Session, publish: Publish, service: Service, number: int) -> None:
    """All traffic to revision ``number``; the one it replaces is remembered for rollback."""
    get_revision(session, service, number, "/body/revision")
    if number != service.primary_revision:
        service.previous_revision = service.primary_revision
    service.mode, service.primary_revision = "single", number
    service.secondary_revision, service.canary_percent = None, 0
    session.flush()
    announce(publish, service, "promoted")


def rollback(session: Session, publish: Publish, service: Service) -> None:
    """All traffic back to the revision that was live before the last promotion."""
    previous = service.previous_revision
    if previous is None:
        raise Conflict(f"service {service.name!r} has nothing to roll back to", code="no_previous")
    service.previous_revision = service.primary_revision
    service.mode, service.primary_revision = "single", previous
    service.secondary_revision, service.canary_percent = None, 0
    session.flush()
    announce(publish, service, "rolled_back")


def announce(publish: Publish, service: Service, change: str) -> None:
    """Queue the service's changed event (delivered if the transaction commits)."""
    publish(
        f"dsw.serving.service.{change}",
        str(service.id),
        ServingServiceChanged(
            service_id=str(service.id),
            name=service.name,
            change=change,
            mode=service.mode,
            revision=service.primary_revision,
            secondary_revision=service.secondary_revision,
            percent=service.canary_percent,
        ),
    )


def hash_key(key: str) -> str:
    """What is stored of an API key: keys are 256 random bits, so a plain SHA-256 suffices."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, service: Service, name: str, subject: str) -> tuple[ApiKey, str]:
    """A new API key for ``service``: the row and the secret (shown once)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        service_id=service.id,
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        created_by=subject,
    )
    session.add(key)
    session.flush()
    return key, secret


def list_keys(session: Session, service: Service) -> list[ApiKey]:
    """The service's API keys (revoked ones too), newest first."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.service_id == service.id).order_by(ApiKey.created.desc())
        )
    )


def revoke_key(session: Session, service: Service, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key (idempotent: revoking twice keeps the first time)."""
    key = session.scalar(select(ApiKey).where(ApiKey.service_id == service.id, ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"API key {key_id} not found", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        # Bump the service so that every serving process reloads its keys promptly.
        service.updated = utcnow()
        session.flush()
    return key


def revision_count(session: Session, service: Service) -> int:
    """How many revisions ``service`` has (as stored)."""
    return int(
        session.scalar(select(func.count(Revision.id)).where(Revision.service_id == service.id))
        or 0
    )
