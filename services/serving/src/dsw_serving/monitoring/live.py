"""Live quality from feedback, and drift: the numbers behind ``/metrics`` and ``/health``.

Feedback (the actual outcome of a request) is joined with the stored invocation of the same
request id; metrics per revision and time window use the training evaluation's names (rmse, mae,
mape for regression; auc, accuracy, ... for classification). Drift is the population stability
index of the live revision's predictions (and numeric inputs) in the latest window against its
first window of traffic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from dsw_recipe import classification_metrics, regression_metrics
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsw_kit.db import utcnow
from dsw_serving.models import Feedback, Invocation, Revision, Service

_MAX_ROWS = 50_000
_BINS = 10


def _flat(values: Any) -> list[float]:
    if isinstance(values, list):
        return [float(item) for value in values for item in _flat(value)]
    return [float(values)]


def _metrics(task_type: str, actual: list[float], predicted: list[float]) -> dict[str, float]:
    if not actual:
        return {}
    if task_type == "classification":
        return classification_metrics(np.asarray(actual), np.asarray(predicted))
    return regression_metrics(np.asarray(actual), np.asarray(predicted))


def live_metrics(
    session: Session, service: Service, window_seconds: int, windows: int
) -> list[dict[str, Any]]:
    """Per revision and window (newest last): requests with feedback and the metrics."""
    now = utcnow()
    start = now - timedelta(seconds=window_seconds * windows)
    rows = session.execute(
        select(Invocation.revision, Invocation.at, Invocation.outputs, Feedback.actuals)
        .join(
            Feedback,
            (Feedback.request_id == Invocation.request_id)
            & (Feedback.service == Invocation.service),
        )
        .where(
            Invocation.service == service.name,
            Invocation.shadow.is_(False),
            Invocation.at >= start,
        )
        .limit(_MAX_ROWS)
    ).all()
    tasks = _tasks(session, service)
    grouped: dict[tuple[int, int], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for revision, at, outputs, actuals in rows:
        predicted, actual = _flat(outputs), _flat(actuals)
        if len(predicted) != len(actual):
            continue
        index = min(int((at - start).total_seconds() // window_seconds), windows - 1)
        grouped[(revision, index)][0].extend(actual)
        grouped[(revision, index)][1].extend(predicted)
    result = []
    for (revision, index), (actual, predicted) in sorted(grouped.items()):
        result.append(
            {
                "revision": revision,
                "window_start": start + timedelta(seconds=window_seconds * index),
                "window_seconds": window_seconds,
                "rows": len(actual),
                "metrics": _finite(_metrics(tasks.get(revision, ""), actual, predicted)),
            }
        )
    return result


def _tasks(session: Session, service: Service) -> dict[int, str]:
    rows = session.execute(
        select(Revision.number, Revision.task_type).where(Revision.service_id == service.id)
    )
    return {int(number): str(task_type) for number, task_type in rows}


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if math.isfinite(value)}


def psi(baseline: np.ndarray, current: np.ndarray) -> float | None:
    """Population stability index of ``current`` against ``baseline`` (deciles of the baseline)."""
    baseline, current = baseline[np.isfinite(baseline)], current[np.isfinite(current)]
    if len(baseline) < _BINS or len(current) < _BINS:
        return None
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, _BINS + 1))[1:-1])
    expected = np.bincount(np.searchsorted(edges, baseline), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, current), minlength=len(edges) + 1)
    expected_share = np.clip(expected / expected.sum(), 1e-4, None)
    actual_share = np.clip(actual / actual.sum(), 1e-4, None)
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


def _window_values(
    session: Session, service: Service, revision: int, start: datetime | None, end: datetime | None
) -> list[Invocation]:
    query = select(Invocation).where(
        Invocation.service == service.name,
        Invocation.revision == revision,
        Invocation.shadow.is_(False),
    )
    if start is not None:
        query = query.where(Invocation.at >= start)
    if end is not None:
        query = query.where(Invocation.at < end)
    return list(session.scalars(query.order_by(Invocation.at).limit(_MAX_ROWS)))


def drift(session: Session, service: Service, window_seconds: int) -> dict[str, Any]:
    """PSI of the live revision's predictions and numeric inputs: latest window vs first."""
    revision = service.primary_revision
    first_at = session.scalar(
        select(func.min(Invocation.at)).where(
            Invocation.service == service.name, Invocation.revision == revision
        )
    )
    if first_at is None:
        return {"revision": revision, "predictions": None, "features": {}}
    window = timedelta(seconds=window_seconds)
    baseline = _window_values(session, service, revision, first_at, first_at + window)
    current = _window_values(session, service, revision, utcnow() - window, None)
    features: dict[str, float | None] = {}
    names = {name for item in baseline[:1] if isinstance(item.inputs, dict) for name in item.inputs}
    for name in sorted(names):
        base, now = _column(baseline, name), _column(current, name)
        if base is not None and now is not None:
            features[name] = psi(base, now)
    return {
        "revision": revision,
        "baseline_start": first_at,
        "baseline_rows": len(baseline),
        "current_rows": len(current),
        "predictions": psi(_outputs(baseline), _outputs(current)),
        "features": features,
    }


def _outputs(items: list[Invocation]) -> np.ndarray:
    return np.asarray([value for item in items for value in _flat(item.outputs)], dtype=float)


def _column(items: list[Invocation], name: str) -> np.ndarray | None:
    values: list[float] = []
    for item in items:
        column = item.inputs.get(name) if isinstance(item.inputs, dict) else None
        for value in column or []:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None  # not a numeric input
            values.append(float(value))
    return np.asarray(values, dtype=float)


def traffic(session: Session, service: Service, window_seconds: int) -> dict[str, int]:
    """Logged requests per revision in the latest window (shadow copies apart)."""
    since = utcnow() - timedelta(seconds=window_seconds)
    rows = session.execute(
        select(Invocation.revision, Invocation.shadow, func.count(Invocation.id))
        .where(Invocation.service == service.name, Invocation.at >= since)
        .group_by(Invocation.revision, Invocation.shadow)
    ).all()
    return {
        f"{revision}{' (shadow)' if shadow else ''}": int(count) for revision, shadow, count in rows
    }
