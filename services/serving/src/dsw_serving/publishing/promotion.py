"""Automatic promotion: a succeeded training run of a service's model is judged by its policy.

The consumer of the training events adds the run's model as a new revision of every service
that follows that training model, compares its metric with the live revision's (metric,
direction, minimum relative improvement), then promotes it directly, starts a canary, or keeps
the live revision; the decision and its reason are recorded and announced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsw_recipe import MetricDirection, get_recipe, metric_direction
from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_contracts import TrainingRunChanged
from dsw_contracts.serving import ServingDecisionMade
from dsw_kit.app import ServiceRuntime
from dsw_kit.db import Tenant
from dsw_kit.events import CloudEvent, EventConsumer
from dsw_serving.models import Decision, ProcessedEvent, Revision, Service
from dsw_serving.publishing import service as services
from dsw_serving.publishing.resolve import ResolvedModel, read_metadata
from dsw_serving.publishing.schedules import follow_live_revision
from dsw_serving.publishing.schemas import TrafficIn

TRAINING_EVENTS = "dsw.training.events"
RUN_SUCCEEDED = "dsw.training.run.succeeded"


@dataclass(frozen=True)
class Verdict:
    """Whether a candidate beats the live revision, and why."""

    better: bool
    reason: str


def judge(
    candidate: float | None, live: float | None, metric: str, direction: str, min_improvement: float
) -> Verdict:
    """Compare a candidate's metric with the live revision's under the policy."""
    if candidate is None or math.isnan(candidate):
        return Verdict(False, f"the new run reports no {metric}")
    if live is None or math.isnan(live):
        return Verdict(True, f"the live revision has no {metric}; the new run has {candidate:.6g}")
    gain = (live - candidate) if direction == "min" else (candidate - live)
    relative = gain / abs(live) if live != 0 else (math.inf if gain > 0 else 0.0)
    needed = f"at least {min_improvement:.2%} better" if min_improvement else "better"
    summary = (
        f"{metric} {candidate:.6g} vs live {live:.6g} ({direction}): "
        f"{relative:+.2%} relative improvement"
    )
    if gain > 0 and relative >= min_improvement:
        return Verdict(True, f"{summary}; {needed} as required")
    return Verdict(False, f"{summary}; not {needed}")


def apply_training_event(runtime: ServiceRuntime, session: Session, event: CloudEvent) -> None:
    """Judge a succeeded run for every service following its training model."""
    change = TrainingRunChanged.model_validate(event.data)
    if change.state != "succeeded" or not change.model_uri:
        return
    followers = session.scalars(
        select(Service).where(Service.training_model_id == change.model_id)
    ).all()
    metadata: dict[str, Any] = {}
    for service in followers:
        judge_run(runtime, session, service, change, metadata)


def auto_promotes(service: Service) -> bool:
    """Whether the service's policy judges each new run of its model."""
    return bool((service.policy.get("promotion") or {}).get("auto_promote", False))


def judged(session: Session, service: Service, run_id: str) -> bool:
    """Whether the service already has a revision of the run or a decision about it."""
    revision = session.scalar(
        select(Revision.id).where(
            Revision.service_id == service.id, Revision.training_run_id == run_id
        )
    )
    if revision is not None:
        return True
    decision = session.scalar(
        select(Decision.id).where(
            Decision.service_id == service.id, Decision.training_run_id == run_id
        )
    )
    return decision is not None


def judge_run(
    runtime: ServiceRuntime,
    session: Session,
    service: Service,
    change: TrainingRunChanged,
    metadata: dict[str, Any],
) -> bool:
    """Judge a succeeded run for one service, once; whether it was judged now.

    The consumer and the reconciler (which finds runs whose event was lost) both come here;
    on PostgreSQL the service row is locked so that they cannot judge the same run twice.
    ``metadata`` caches the model's metadata across services.
    """
    if not auto_promotes(service) or not change.model_uri:
        return False
    if not runtime.database.is_sqlite:
        session.refresh(service, with_for_update=True)
    if judged(session, service, change.run_id):
        return False
    if service.pinned:
        _record(runtime, session, service, change, "skipped", None, "the service is pinned")
        return True
    if not metadata:
        tracking_uri = runtime.settings.platform.resolved_mlflow_tracking_uri
        metadata.update(read_metadata(change.model_uri, tracking_uri, "/data/model_uri"))
    promotion = dict(service.policy.get("promotion") or {})
    _judge_for(runtime, session, service, change, promotion, metadata)
    return True


def _judge_for(
    runtime: ServiceRuntime,
    session: Session,
    service: Service,
    change: TrainingRunChanged,
    promotion: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    assert change.model_uri is not None
    model = ResolvedModel(
        model_uri=change.model_uri,
        training_run_id=change.run_id,
        training_model_id=change.model_id,
        registered_model=change.registered_model,
        model_version=change.model_version,
        metrics=dict(change.metrics),
        task_type=str(metadata.get("task_type", "")),
        recipe=f"{metadata.get('name', '')} {metadata.get('version', '')}".strip(),
        inputs=[dict(item) for item in metadata.get("inputs", [])],
    )
    live = session.scalar(
        select(Revision).where(
            Revision.service_id == service.id, Revision.number == service.primary_revision
        )
    )
    revision = services.add_revision(session, service, model, origin="auto")
    metric = str(promotion.get("metric") or "rmse")
    verdict = judge(
        change.metrics.get(metric),
        (live.metrics or {}).get(metric) if live is not None else None,
        metric,
        str(promotion.get("direction") or _direction(metadata, metric)),
        float(promotion.get("min_improvement") or 0.0),
    )

    def publish(event_type: str, subject: str, payload: Any) -> Any:
        return runtime.publisher.publish(session, _tenant(service), event_type, subject, payload)

    if not verdict.better:
        action = "kept"
    elif promotion.get("mode") == "canary" and live is not None:
        action = "canary"
        traffic = TrafficIn(
            mode="canary",
            revision=service.primary_revision,
            secondary_revision=revision.number,
            percent=int(promotion.get("canary_percent") or 10),
        )
        services.set_traffic(session, publish, service, traffic)
    else:
        action = "promoted"
        services.promote(session, publish, service, revision.number)
        follow_live_revision(
            session, service, runtime.settings.platform.resolved_mlflow_tracking_uri
        )
    _record(
        runtime, session, service, change, action, revision.number, verdict.reason, live, metric
    )


def _tenant(service: Service) -> Tenant:
    return Tenant(service.org_id, service.sandbox)


def _record(
    runtime: ServiceRuntime,
    session: Session,
    service: Service,
    change: TrainingRunChanged,
    action: str,
    revision: int | None,
    reason: str,
    live: Revision | None = None,
    metric: str | None = None,
) -> None:
    live_value = (live.metrics or {}).get(metric) if live is not None and metric else None
    decision = Decision(
        service_id=service.id,
        training_run_id=change.run_id,
        revision=revision,
        live_revision=live.number if live is not None else service.primary_revision,
        action=action,
        metric=metric,
        candidate_value=change.metrics.get(metric) if metric else None,
        live_value=live_value,
        reason=reason,
    )
    session.add(decision)
    session.flush()
    runtime.publisher.publish(
        session,
        _tenant(service),
        "dsw.serving.decision.made",
        str(service.id),
        ServingDecisionMade(
            service_id=str(service.id),
            name=service.name,
            training_run_id=change.run_id,
            action=action,
            revision=revision,
            live_revision=decision.live_revision,
            metric=metric,
            candidate_value=decision.candidate_value,
            live_value=live_value,
            reason=reason,
        ),
    )


def promotion_consumer(runtime: ServiceRuntime) -> EventConsumer:
    """The consumer of the training events in the ``serving.training-events`` group."""
    platform = runtime.settings.platform

    def handler(session: Session, event: CloudEvent) -> None:
        apply_training_event(runtime, session, event)

    return EventConsumer(
        name="serving.training-events",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=[TRAINING_EVENTS],
        handler=handler,
        event_types={RUN_SUCCEEDED},
        bootstrap=platform.kafka_bootstrap,
        group_id=platform.kafka_group_prefix + "serving.training-events",
        partitions_per_topic=platform.kafka_partitions,
    )


def _direction(metadata: dict[str, Any], metric: str) -> MetricDirection:
    """Whether lower or higher `metric` is better: as the model's (installed) recipe declares,
    else by the metric's name."""
    try:
        return get_recipe(str(metadata.get("name") or "")).direction(metric)
    except (ImportError, LookupError, ValueError):
        return metric_direction(metric)
