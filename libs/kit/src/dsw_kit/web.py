"""Request-side helpers: the unit of work, ETags and idempotent creation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from dsw_contracts import EventPayload
from dsw_kit.auth import RequestContext, require
from dsw_kit.db import Tenant, TenantScoped, UTCDateTime, utcnow
from dsw_kit.errors import PreconditionFailed, UnprocessableEntity
from dsw_kit.events import CloudEvent

__all__ = ["IdempotencyMixin", "UnitOfWork", "check_if_match", "idempotent_create", "unit_of_work"]

M = TypeVar("M", bound=BaseModel)


@dataclass
class UnitOfWork:
    """One request's transaction: its session, who is calling, and the event publisher."""

    session: Session
    context: RequestContext
    request: Request

    @property
    def tenant(self) -> Tenant:
        """The tenant the request acts for."""
        return self.context.tenant

    def publish(self, event_type: str, subject: str, payload: EventPayload) -> CloudEvent:
        """Queue an event in the outbox; delivered only if this unit of work commits."""
        publisher = self.request.app.state.runtime.publisher
        event: CloudEvent = publisher.publish(
            self.session, self.tenant, event_type, subject, payload
        )
        return event


def unit_of_work(scope: str) -> Any:
    """A dependency giving a :class:`UnitOfWork`, committed when the endpoint returns.

    ``scope="function"`` makes FastAPI finish the dependency (commit) before the response is sent,
    so a client never sees a success for a transaction that then failed to commit.
    """

    def dependency(
        request: Request, context: RequestContext = Depends(require(scope))
    ) -> Iterator[UnitOfWork]:
        database = request.app.state.runtime.database
        with database.session(context.tenant) as session:
            yield UnitOfWork(session, context, request)

    return Depends(dependency, scope="function")


def check_if_match(request: Request, current_etag: str) -> None:
    """Refuse (412) an update whose ``If-Match`` names another version."""
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if current_etag not in candidates:
        raise PreconditionFailed(
            f"the resource is at version {current_etag}, not {if_match}", code="etag_mismatch"
        )


class IdempotencyMixin(TenantScoped):
    """Columns of a service's ``idempotency_keys`` table: responses of keyed create requests."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    route: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("org_id", "sandbox", "route", "key", name="uq_idempotency_key"),)


def idempotent_create(
    work: UnitOfWork,
    model: type[IdempotencyMixin],
    body: BaseModel,
    create: Callable[[], BaseModel],
    *,
    status_code: int = 201,
    headers: Callable[[BaseModel], dict[str, str]] | None = None,
) -> JSONResponse:
    """Run ``create`` once per ``Idempotency-Key``; a retry gets the first response again.

    The stored response is written in the same transaction as the resource, so a crash cannot
    leave a resource without its key or a key without its resource.
    """
    key = work.request.headers.get("idempotency-key")
    route = f"{work.request.method} {work.request.url.path}"
    digest = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    if key:
        stored = work.session.scalar(select(model).where(model.key == key, model.route == route))
        if stored is not None:
            if stored.request_hash != digest:
                raise UnprocessableEntity(
                    "this Idempotency-Key was used with a different request body",
                    code="idempotency_key_reused",
                )
            return JSONResponse(
                stored.response,
                status_code=stored.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
    created = create()
    content = jsonable_encoder(created)
    if key:
        record = {
            "key": key,
            "route": route,
            "request_hash": digest,
            "status_code": status_code,
            "response": content,
        }
        work.session.add(model(**record))
        work.session.flush()
    return JSONResponse(
        content, status_code=status_code, headers=headers(created) if headers else None
    )
