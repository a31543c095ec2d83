"""Routes of the loop back: feedback (actual outcomes), live metrics, health and drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from dsw_contracts.serving import ServingHealthChanged
from dsw_kit.errors import problem_responses
from dsw_kit.web import UnitOfWork, unit_of_work
from dsw_serving.models import Feedback, Revision
from dsw_serving.monitoring import live
from dsw_serving.publishing.service import get_service
from dsw_serving.settings import ServingSettings

router = APIRouter(prefix="/serving/v1", tags=["monitoring"])

# Live error this much worse than the training evaluation's advises retraining.
_DEGRADATION = 0.25


class FeedbackItem(BaseModel):
    """The actual outcome of one prediction request (one value per record predicted)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    actual: float | list[float] = Field(description="The outcome (a list for a batch request)")


class FeedbackIn(BaseModel):
    """Actual outcomes of earlier requests, by request id."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackItem] = Field(min_length=1, max_length=1000)


class FeedbackOut(BaseModel):
    """How many outcomes were recorded (a request id sent again replaces its outcome)."""

    accepted: int


class WindowOut(BaseModel):
    """Live metrics of one revision over one time window."""

    revision: int
    window_start: datetime
    window_seconds: int
    rows: int
    metrics: dict[str, float]


class HealthOut(BaseModel):
    """Live accuracy, drift and traffic of a service, and whether retraining is advisable."""

    service: str
    revision: int
    training_metrics: dict[str, float]
    live_metrics: list[WindowOut]
    drift: dict[str, Any]
    traffic: dict[str, int]
    retraining_advised: bool
    reasons: list[str]


def _settings(request: Request) -> ServingSettings:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, ServingSettings)
    return settings


@router.post(
    "/services/{name}/feedback",
    response_model=FeedbackOut,
    responses=problem_responses(404, 422),
    summary="Send the actual outcomes of earlier predictions (by request id)",
)
def post_feedback(
    name: str, body: FeedbackIn, work: UnitOfWork = unit_of_work("serving:write")
) -> FeedbackOut:
    service = get_service(work.session, name)
    ids = [item.request_id for item in body.items]
    existing = {
        row.request_id: row
        for row in work.session.scalars(
            select(Feedback).where(Feedback.service == service.name, Feedback.request_id.in_(ids))
        )
    }
    for item in body.items:
        actuals = item.actual if isinstance(item.actual, list) else [item.actual]
        row = existing.get(item.request_id)
        if row is None:
            row = Feedback(service=service.name, request_id=item.request_id, actuals=actuals)
            work.session.add(row)
            existing[item.request_id] = row
        else:
            row.actuals = actuals
    work.session.flush()
    return FeedbackOut(accepted=len(body.items))


@router.get(
    "/services/{name}/metrics",
    response_model=list[WindowOut],
    responses=problem_responses(404, 422),
    summary="Live metrics per revision and time window, from feedback (training's metric names)",
)
def get_metrics(
    name: str,
    window_seconds: int = Query(3600, ge=60, le=30 * 86_400, description="Window length"),
    windows: int = Query(24, ge=1, le=500, description="How many windows back from now"),
    work: UnitOfWork = unit_of_work("serving:read"),
) -> list[WindowOut]:
    service = get_service(work.session, name)
    rows = live.live_metrics(work.session, service, window_seconds, windows)
    return [WindowOut(**row) for row in rows]


@router.get(
    "/services/{name}/health",
    response_model=HealthOut,
    responses=problem_responses(404),
    summary="Live accuracy, drift (PSI) and traffic; whether retraining is advisable",
)
def get_health(
    name: str, request: Request, work: UnitOfWork = unit_of_work("serving:read")
) -> HealthOut:
    settings = _settings(request)
    service = get_service(work.session, name)
    window = settings.health_window_seconds
    revision = work.session.scalar(
        select(Revision).where(
            Revision.service_id == service.id, Revision.number == service.primary_revision
        )
    )
    trained = dict(revision.metrics or {}) if revision is not None else {}
    windows = [
        WindowOut(**row)
        for row in live.live_metrics(work.session, service, window, 1)
        if row["revision"] == service.primary_revision
    ]
    drift = live.drift(work.session, service, window)
    reasons = _reasons(trained, windows, drift, settings.drift_psi_threshold)
    advised = bool(reasons)
    if advised != service.retraining_advised:
        # Crossing the threshold (either way) is announced once, when it is first seen.
        service.retraining_advised = advised
        work.session.flush()
        work.publish(
            "dsw.serving.health.changed",
            str(service.id),
            ServingHealthChanged(
                service_id=str(service.id),
                name=service.name,
                retraining_advised=advised,
                reasons=reasons,
            ),
        )
    return HealthOut(
        service=service.name,
        revision=service.primary_revision,
        training_metrics=trained,
        live_metrics=windows,
        drift=drift,
        traffic=live.traffic(work.session, service, window),
        retraining_advised=advised,
        reasons=reasons,
    )


def _reasons(
    trained: dict[str, float], windows: list[WindowOut], drift: dict[str, Any], threshold: float
) -> list[str]:
    reasons = []
    latest = windows[-1].metrics if windows else {}
    for metric in ("rmse", "mae", "mape"):
        if metric in latest and latest[metric] > trained.get(metric, 0) * (1 + _DEGRADATION) > 0:
            reasons.append(
                f"live {metric} {latest[metric]:.4g} is over {_DEGRADATION:.0%} worse than "
                f"the training evaluation's {trained[metric]:.4g}"
            )
    for metric in ("auc", "accuracy"):
        if metric in latest and latest[metric] < trained.get(metric, 0) * (1 - _DEGRADATION):
            reasons.append(f"live {metric} {latest[metric]:.4g} fell below training's")
    predictions = drift.get("predictions")
    if predictions is not None and predictions > threshold:
        reasons.append(f"prediction drift: PSI {predictions:.3f} > {threshold}")
    return reasons
