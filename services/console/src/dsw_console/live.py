"""Live metrics of a service as time series, for the charts of the service page.

The serving API keeps time series of live accuracy only (``/metrics``: feedback windows per
revision). Requests, latency and errors exist as cumulative Prometheus counters of the serving
process, and drift as the latest value of ``/health``. The console has no database, so it turns
those into series the stateless way: each refresh of the panel reads the counters once, and the
samples so far travel with the page (a hidden field the next htmx request sends back). Rates are the
differences between consecutive samples, so the series cover the time since the page was opened.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import pairwise
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from dsw_console.charts import Series
from dsw_console.upstream import ApiError, Problem

__all__ = [
    "MAX_SAMPLES",
    "Sample",
    "accuracy_series",
    "decode_samples",
    "drift_series",
    "encode_samples",
    "rate_series",
    "read_counters",
]

MAX_SAMPLES = 60  # five minutes at one sample every five seconds: the hidden field stays small
REQUESTS = "dsw_serving_requests"
ERRORS = "dsw_serving_errors"
LATENCY = "dsw_serving_predict_seconds"


class Sample(BaseModel):
    """The serving counters of one service at one moment (cumulative since the process started)."""

    t: float = Field(description="Seconds since the epoch")
    ok: dict[str, float] = Field(default_factory=dict, description="Answered requests by revision")
    lat_s: dict[str, float] = Field(default_factory=dict, description="Latency sum by revision")
    lat_n: dict[str, float] = Field(default_factory=dict, description="Latency count by revision")
    err: float = Field(0.0, description="Refused or failed requests (all revisions)")
    psi: float | None = Field(None, description="Prediction drift (PSI) of the live revision")


_SAMPLES = TypeAdapter(list[Sample])


def decode_samples(text: str) -> list[Sample]:
    """The samples sent back by the page; a 422 problem when the field is not what we wrote."""
    if not text.strip():
        return []
    try:
        return _SAMPLES.validate_json(text)[-MAX_SAMPLES:]
    except ValidationError as error:
        raise ApiError(
            Problem(
                422,
                "Unprocessable Entity",
                "the live metrics samples are not valid",
                code="validation_failed",
                errors=[{"pointer": "/query/samples", "message": str(error.errors()[0]["msg"])}],
            )
        ) from error


def encode_samples(samples: list[Sample]) -> str:
    """The samples as the compact JSON the page keeps (the newest :data:`MAX_SAMPLES`)."""
    return _SAMPLES.dump_json(samples[-MAX_SAMPLES:], exclude_defaults=True).decode()


def read_counters(
    exposition: str, org: str | None, sandbox: str, service: str, at: float
) -> Sample:
    """The counters of one service (of one tenant) in a Prometheus text exposition."""
    sample = Sample(t=at)
    wanted = {"org": org or "", "sandbox": sandbox, "service": service}
    for family in text_string_to_metric_families(exposition):
        if family.name not in (REQUESTS, ERRORS, LATENCY):
            continue
        for item in family.samples:
            labels = item.labels
            if any(labels.get(key) != value for key, value in wanted.items()):
                continue  # another tenant's or another service's numbers are never shown
            revision = labels.get("revision", "")
            if item.name == f"{REQUESTS}_total" and labels.get("outcome") == "ok":
                sample.ok[revision] = sample.ok.get(revision, 0.0) + item.value
            elif item.name == f"{ERRORS}_total" and labels.get("status") != "shadow":
                sample.err += item.value
            elif item.name == f"{LATENCY}_sum":
                sample.lat_s[revision] = item.value
            elif item.name == f"{LATENCY}_count":
                sample.lat_n[revision] = item.value
    return sample


def _increase(before: float | None, after: float | None) -> float | None:
    """How much a counter grew; ``None`` across a restart of the serving process (it went down)."""
    if before is None or after is None or after < before:
        return None
    return after - before


def rate_series(samples: list[Sample]) -> dict[str, list[Series]]:
    """Requests per second and mean latency (ms) per revision, errors per minute (all revisions)."""
    requests: dict[str, list[tuple[float, float]]] = defaultdict(list)
    latency: dict[str, list[tuple[float, float]]] = defaultdict(list)
    errors: list[tuple[float, float]] = []
    for before, after in pairwise(samples):
        seconds = after.t - before.t
        if seconds <= 0:
            continue
        for revision in sorted(after.ok, key=_revision_order):
            grew = _increase(before.ok.get(revision, 0.0), after.ok[revision])
            if grew is not None:
                requests[revision].append((after.t, grew / seconds))
            count = _increase(before.lat_n.get(revision, 0.0), after.lat_n.get(revision))
            total = _increase(before.lat_s.get(revision, 0.0), after.lat_s.get(revision))
            if count and total is not None:
                latency[revision].append((after.t, 1000 * total / count))
        grew = _increase(before.err, after.err)
        if grew is not None:
            errors.append((after.t, 60 * grew / seconds))
    return {
        "requests": _by_revision(requests),
        "latency": _by_revision(latency),
        "errors": [Series("all revisions", errors)] if errors else [],
    }


def drift_series(samples: list[Sample]) -> list[Series]:
    """The live revision's prediction drift (PSI) at each sample that had one."""
    points = [(sample.t, sample.psi) for sample in samples if sample.psi is not None]
    return [Series("predictions", [(t, float(psi)) for t, psi in points])] if points else []


def accuracy_series(windows: Iterable[Mapping[str, Any]]) -> dict[str, list[Series]]:
    """Live metrics from feedback by metric name, one line per revision (window middles)."""
    lines: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for window in windows:
        start = datetime.fromisoformat(str(window["window_start"]).replace("Z", "+00:00"))
        middle = start.timestamp() + float(window.get("window_seconds", 0)) / 2
        revision = str(window["revision"])
        lines["feedback rows"][revision].append((middle, float(window.get("rows", 0))))
        for metric, value in (window.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                lines[str(metric)][revision].append((middle, float(value)))
    return {metric: _by_revision(by_revision) for metric, by_revision in lines.items()}


def _revision_order(revision: str) -> tuple[int, str]:
    return (int(revision), "") if revision.isdigit() else (1 << 30, revision)


def _by_revision(points: Mapping[str, list[tuple[float, float]]]) -> list[Series]:
    return [
        Series(f"revision {revision}", sorted(points[revision]))
        for revision in sorted(points, key=_revision_order)
        if points[revision]
    ]
