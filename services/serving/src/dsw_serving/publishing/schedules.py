"""Schedules made with a service (as DSW did): retraining in the training service, scoring in
the scoring service, created through their public APIs with the caller's own token.

- Each create carries an ``Idempotency-Key`` derived from the publish request's own key, so a
  publish retried with the same key adopts the schedules a failed attempt already made instead of
  making two. Without a key, a publish that fails after making a schedule deletes it again.
- The scoring schedule scores with a registry alias of the service's model (``serving-<name>``)
  that this module keeps on the live revision's model version: each scoring run resolves the alias
  when it starts, so it uses whatever revision is live then. The alias moves once a change of
  live revision is committed (promotion, rollback, traffic, automatic promotion).
- Deleting the service deletes both schedules (already gone is fine) and the alias.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dsw_kit.auth import RequestContext
from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import FieldError, Forbidden, ServiceUnavailable, UnprocessableEntity
from dsw_serving.models import Revision, Service
from dsw_serving.publishing.resolve import unprocessable
from dsw_serving.publishing.schemas import ServiceCreate, scoring_alias
from dsw_serving.upstream import Upstreams

logger = logging.getLogger("dsw.serving.schedules")

TRAINING_SCHEDULES = "/training/v1/schedules"
SCORING_SCHEDULES = "/scoring/v1/schedules"


def create_schedules(
    context: RequestContext,
    upstreams: Upstreams,
    service: Service,
    body: ServiceCreate,
    revision: Revision,
    tracking_uri: str,
    idempotency_key: str | None,
) -> None:
    """Make the schedules ``body`` asks for and keep their ids on ``service``."""
    prefix = f"serving:{idempotency_key or uuid.uuid4().hex}"
    try:
        if body.retraining_schedule is not None:
            with upstreams.training.for_request(context) as training:
                service.retraining_schedule_id = _create(
                    training,
                    TRAINING_SCHEDULES,
                    _retraining_payload(service, body),
                    f"{prefix}:retraining",
                    "/body/retraining_schedule",
                    body.retraining_schedule,
                )
        if body.scoring_schedule is not None:
            # Scoring checks the alias when the schedule is made: it must exist first.
            _point_alias(revision, scoring_alias(service.name), tracking_uri, required=True)
            with upstreams.scoring.for_request(context) as scoring:
                service.scoring_schedule_id = _create(
                    scoring,
                    SCORING_SCHEDULES,
                    _scoring_payload(service, body),
                    f"{prefix}:scoring",
                    "/body/scoring_schedule",
                    body.scoring_schedule,
                )
    except Exception:
        if idempotency_key is None:  # nobody can adopt them by retrying: undo
            _undo(context, upstreams, service, revision, tracking_uri)
        raise


def delete_schedules(
    context: RequestContext, upstreams: Upstreams, service: Service, tracking_uri: str
) -> None:
    """Delete the service's schedules (a 404 means already gone) and its scoring alias."""
    if service.retraining_schedule_id is not None:
        with upstreams.training.for_request(context) as training:
            _delete(training, f"{TRAINING_SCHEDULES}/{service.retraining_schedule_id}")
    if service.scoring_schedule_id is not None:
        with upstreams.scoring.for_request(context) as scoring:
            _delete(scoring, f"{SCORING_SCHEDULES}/{service.scoring_schedule_id}")
        for revision in _registered_revisions(service):
            _drop_alias(revision, scoring_alias(service.name), tracking_uri)


def follow_live_revision(session: Session, service: Service, tracking_uri: str) -> None:
    """Once this transaction commits, point the scoring alias at the live revision's model.

    Only a revision of the service's own training model can be followed (the schedule scores
    that model); another one leaves the alias where it is, with a warning.
    """
    if service.scoring_schedule_id is None:
        return
    revision = session.scalar(
        select(Revision).where(
            Revision.service_id == service.id, Revision.number == service.primary_revision
        )
    )
    if revision is None:
        return
    if revision.training_model_id != service.training_model_id or not revision.registered_model:
        logger.warning(
            "service %s: revision %d is not a registered version of its model; the scoring "
            "schedule keeps the previous one",
            service.name,
            revision.number,
        )
        return
    alias = scoring_alias(service.name)
    name, version, service_name = revision.registered_model, revision.model_version, service.name

    def point(_: Session) -> None:
        try:
            _set_alias(name, version, alias, tracking_uri)
        except Exception:  # the change is committed; the alias catches up at the next change
            logger.warning("service %s: moving alias %s failed", service_name, alias, exc_info=True)

    event.listen(session, "after_commit", point, once=True)


# -- upstream calls ----------------------------------------------------------------------------


def _retraining_payload(service: Service, body: ServiceCreate) -> dict[str, Any]:
    assert body.retraining_schedule is not None
    return {
        "model_id": service.training_model_id,
        "name": f"serving-{service.name}"[:128],
        **body.retraining_schedule.model_dump(mode="json"),
    }


def _scoring_payload(service: Service, body: ServiceCreate) -> dict[str, Any]:
    assert body.scoring_schedule is not None
    values = body.scoring_schedule.model_dump(mode="json")
    values["output"] = {k: v for k, v in values["output"].items() if v is not None}
    return {
        "name": f"serving-{service.name}"[:128],
        "model": {"model_id": service.training_model_id, "alias": scoring_alias(service.name)},
        **values,
    }


def _create(
    client: httpx.Client,
    path: str,
    payload: dict[str, Any],
    key: str,
    pointer: str,
    part: BaseModel,
) -> str:
    """The id of the schedule created (or replayed) upstream; its 422 re-pointed at ``pointer``."""
    try:
        response = client.post(path, json=payload, headers={"Idempotency-Key": key})
    except httpx.TransportError as error:
        raise ServiceUnavailable(f"{path} is unreachable; retry shortly") from error
    if response.status_code == 422:
        raise _repointed(response, pointer, set(type(part).model_fields))
    _raise_forbidden(response)
    raise_for_problem(response)
    return str(response.json()["id"])


def _raise_forbidden(response: httpx.Response) -> None:
    """The caller's token may not act on schedules there (a missing scope): their 403."""
    if response.status_code == 403:
        problem = response.json()
        raise Forbidden(str(problem.get("detail", "")), code=str(problem.get("code", "forbidden")))


def _repointed(response: httpx.Response, pointer: str, fields: set[str]) -> UnprocessableEntity:
    """The upstream's 422 with each field error under the publish request's ``pointer``.

    An error about a field the caller sent (``/body/cron``) keeps its path below ``pointer``;
    one about what serving filled in (the model, say) points at the schedule itself.
    """
    problem = response.json()
    detail = str(problem.get("detail") or problem.get("title") or "invalid schedule")
    code = str(problem.get("code") or "validation_failed")
    errors = []
    for item in problem.get("errors") or []:
        upstream = str(item.get("pointer", ""))
        rest = upstream.removeprefix("/body")
        top = rest.split("/")[1] if rest.count("/") >= 1 else ""
        errors.append(
            FieldError(
                pointer=pointer + rest if top in fields else pointer,
                message=str(item.get("message", detail)),
                code=str(item.get("code", code)),
            )
        )
    return UnprocessableEntity(
        detail, code=code, errors=errors or [FieldError(pointer=pointer, message=detail, code=code)]
    )


def _delete(client: httpx.Client, path: str) -> None:
    try:
        response = client.delete(path)
    except httpx.TransportError as error:
        raise ServiceUnavailable(f"{path} is unreachable; retry shortly") from error
    if response.status_code != 404:
        _raise_forbidden(response)
        raise_for_problem(response)


def _undo(
    context: RequestContext,
    upstreams: Upstreams,
    service: Service,
    revision: Revision,
    tracking_uri: str,
) -> None:
    try:
        delete_schedules(context, upstreams, service, tracking_uri)
        _drop_alias(revision, scoring_alias(service.name), tracking_uri)
    except Exception:
        logger.warning("service %s: undoing its schedules failed", service.name, exc_info=True)


# -- the registry alias ------------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    # MLflow's own deprecation warnings are not actionable here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _point_alias(revision: Revision, alias: str, tracking_uri: str, *, required: bool) -> None:
    if not revision.registered_model or not revision.model_version:
        if required:
            raise unprocessable(
                f"revision {revision.number}'s model is not in the model registry; a scoring "
                "schedule follows registered versions",
                "model_not_registered",
                "/body/scoring_schedule",
            )
        return
    try:
        _set_alias(revision.registered_model, revision.model_version, alias, tracking_uri)
    except Exception as error:  # MLflow raises many kinds
        raise ServiceUnavailable(
            f"the model registry refused alias {alias!r}: {type(error).__name__}"
        ) from error


def _set_alias(name: str, version: str | None, alias: str, tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    with _quiet():
        MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(
            name, alias, str(version)
        )


def _drop_alias(revision: Revision, alias: str, tracking_uri: str) -> None:
    if not revision.registered_model:
        return
    from mlflow.tracking import MlflowClient

    try:
        with _quiet():
            MlflowClient(tracking_uri=tracking_uri).delete_registered_model_alias(
                revision.registered_model, alias
            )
    except Exception:  # already gone, or the registry is away: a stale alias harms nothing
        logger.info("alias %s of %s not removed", alias, revision.registered_model)


def _registered_revisions(service: Service) -> list[Revision]:
    """The service's revisions whose model is registered (one per registered model)."""
    session = Session.object_session(service)
    if session is None:
        return []
    seen: dict[str, Revision] = {}
    for revision in session.scalars(select(Revision).where(Revision.service_id == service.id)):
        if revision.registered_model and revision.registered_model not in seen:
            seen[revision.registered_model] = revision
    return list(seen.values())
