"""Events the serving service publishes, and the invocation log's message."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from dsw_contracts._topics import EventPayload

__all__ = [
    "INVOCATIONS_TOPIC",
    "ServingDecisionMade",
    "ServingHealthChanged",
    "ServingInvocationBatch",
    "ServingServiceChanged",
]

#: Prediction logs (not through the outbox: produced off the request path, best effort).
INVOCATIONS_TOPIC = "dsw.serving.invocations"


class ServingServiceChanged(EventPayload):
    """``dsw.serving.service.published|updated|promoted|rolled_back|deleted``.

    Carries the traffic after the change: ``mode`` single/canary/shadow, the primary revision
    and, for canary and shadow, the secondary revision and its share of requests.
    """

    event_type: ClassVar[str] = "dsw.serving.service.changed"
    service_id: str
    name: str
    change: Literal["published", "updated", "promoted", "rolled_back", "deleted"]
    mode: str = "single"
    revision: int = 1
    secondary_revision: int | None = None
    percent: int = 0


class ServingDecisionMade(EventPayload):
    """``dsw.serving.decision.made``: automatic promotion judged a new training run's model."""

    event_type: ClassVar[str] = "dsw.serving.decision.made"
    service_id: str
    name: str
    training_run_id: str
    action: Literal["promoted", "canary", "kept", "skipped"]
    revision: int | None = None
    live_revision: int | None = None
    metric: str | None = None
    candidate_value: float | None = None
    live_value: float | None = None
    reason: str = ""


class ServingHealthChanged(EventPayload):
    """``dsw.serving.health.changed``: a service crossed (or came back under) a threshold."""

    event_type: ClassVar[str] = "dsw.serving.health.changed"
    service_id: str
    name: str
    retraining_advised: bool
    reasons: list[str] = Field(default_factory=list)


class ServingInvocationBatch(EventPayload):
    """``dsw.serving.invocations.logged`` on :data:`INVOCATIONS_TOPIC`: sampled predictions.

    Each item: ``service``, ``request_id``, ``revision``, ``shadow``, ``inputs`` (columns),
    ``outputs``, ``latency_ms``, ``at`` (RFC 3339).
    """

    event_type: ClassVar[str] = "dsw.serving.invocations.logged"
    items: list[dict[str, Any]] = Field(default_factory=list)
