"""Request and response models of services, revisions, traffic, API keys and decisions."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsw_serving.models import ApiKey, Decision, Revision, Service

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


def scoring_alias(service_name: str) -> str:
    """The registry alias kept on the live revision's model version for a scoring schedule.

    Aliases are at most 64 characters: a long name is cut and made unique by its hash.
    """
    alias = f"serving-{service_name}"
    if len(alias) <= 64:
        return alias
    digest = hashlib.sha256(service_name.encode()).hexdigest()[:8]
    return f"serving-{service_name[:40]}-{digest}"


Direction = Literal["min", "max"]


class SourceIn(BaseModel):
    """Where a service's model comes from: one training run, or a model's latest / best run."""

    model_config = ConfigDict(extra="forbid")

    training_run_id: uuid.UUID | None = Field(None, description="Serve this run's model")
    model_id: uuid.UUID | None = Field(None, description="Serve a run of this training model")
    policy: Literal["latest", "best"] = Field(
        "latest", description="With model_id: the newest succeeded run, or the best by metric"
    )
    metric: str | None = Field(None, max_length=64, description="With policy best, e.g. rmse")
    direction: Direction | None = Field(
        None,
        description="Whether lower or higher metric wins (default: as the recipe says; errors "
        "and losses lower, scores such as AUC or NDCG higher)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SourceIn:
        if (self.training_run_id is None) == (self.model_id is None):
            raise ValueError("name exactly one of training_run_id and model_id")
        if self.model_id is not None and self.policy == "best" and not self.metric:
            raise ValueError("policy best needs a metric")
        return self


class PromotionIn(BaseModel):
    """How new training runs of the service's model are promoted (automatic promotion)."""

    model_config = ConfigDict(extra="forbid")

    auto_promote: bool = Field(True, description="Judge each succeeded run of the model")
    metric: str | None = Field(
        None, max_length=64, description="Metric compared (default: the source's, else rmse)"
    )
    direction: Direction | None = Field(None, description="Whether lower or higher wins")
    min_improvement: float = Field(
        0.0, ge=0.0, le=1.0, description="Relative improvement needed, e.g. 0.01 = 1% better"
    )
    mode: Literal["direct", "canary"] = Field(
        "direct", description="Promote at once, or start a canary the operator promotes"
    )
    canary_percent: int = Field(10, ge=1, le=99, description="Canary share of requests")


class CronIn(BaseModel):
    """When a schedule fires: a cron expression, on new data, or both (checked upstream)."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(
        None, max_length=128, description="Five-field cron expression, e.g. '0 6 * * 1'"
    )
    timezone: str = Field("UTC", max_length=64, description="IANA zone the cron is read in")
    start: datetime | None = Field(None, description="No run before this instant")
    end: datetime | None = Field(None, description="No run at or after this instant")
    on_new_data: bool = Field(False, description="Also run when the dataset gets a new batch")


class RetrainingScheduleIn(CronIn):
    """Retrain the service's model (a training schedule of its training model)."""

    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the model's hyperparameters"
    )


class ScoringOutputIn(BaseModel):
    """Where scheduled predictions go: an existing dataset, or a new one made at publish."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID | None = Field(None, description="An existing compatible dataset")
    name: str | None = Field(None, max_length=200, description="Name of a new dataset")


class ScoringScheduleIn(CronIn):
    """Score a dataset with whatever revision is live when each run starts."""

    input_dataset_id: uuid.UUID = Field(description="The catalog dataset scored")
    output: ScoringOutputIn


class BatchingIn(BaseModel):
    """Adaptive micro-batching: concurrent single-record requests share one booster call."""

    model_config = ConfigDict(extra="forbid")

    max_rows: int = Field(
        ge=2, le=1000, description="Largest gathered batch (rows); a full batch goes at once"
    )
    max_wait_ms: float = Field(
        gt=0, le=100, description="Longest a request waits for others to join its batch"
    )


class ServiceCreate(BaseModel):
    """A service to publish."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="URL-safe, unique in the sandbox")
    description: str = Field("", max_length=2000)
    source: SourceIn
    promotion: PromotionIn = Field(default_factory=PromotionIn)
    retraining_schedule: RetrainingScheduleIn | None = Field(
        None, description="Made through the training service; deleted with the service"
    )
    scoring_schedule: ScoringScheduleIn | None = Field(
        None,
        description="Made through the scoring service; scores with the live revision's model "
        "at each run; deleted with the service",
    )
    batching: BatchingIn | None = Field(None, description="Off (null) by default")
    tags: list[str] = Field(default_factory=list, max_length=50)


class ServicePatch(BaseModel):
    """Changes to a service (send ``If-Match`` to avoid overwriting someone else's change)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=2000)
    pinned: bool | None = Field(None, description="A pinned service is never auto-promoted")
    promotion: PromotionIn | None = None
    batching: BatchingIn | None = Field(
        None, description="Micro-batching settings; an explicit null turns it off"
    )
    tags: list[str] | None = Field(None, max_length=50)


class TrafficIn(BaseModel):
    """Where requests go."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["single", "canary", "shadow"]
    revision: int = Field(ge=1, description="Primary revision (answers requests)")
    secondary_revision: int | None = Field(
        None, ge=1, description="Canary or shadow revision (needed for canary and shadow)"
    )
    percent: int = Field(0, ge=0, le=100, description="Canary: share of requests it answers")

    @model_validator(mode="after")
    def _secondary(self) -> TrafficIn:
        if self.mode != "single" and self.secondary_revision is None:
            raise ValueError(f"mode {self.mode} needs secondary_revision")
        if self.mode != "single" and self.secondary_revision == self.revision:
            raise ValueError("secondary_revision must differ from revision")
        return self


class PromoteIn(BaseModel):
    """Send all traffic to a revision."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1)


class RevisionCreate(BaseModel):
    """A new revision: from a source, or (no source) the service's own source resolved again."""

    model_config = ConfigDict(extra="forbid")

    source: SourceIn | None = None
    promote: bool = Field(False, description="Send all traffic to it once created")


class TrafficOut(BaseModel):
    """Where requests go."""

    mode: str
    revision: int
    secondary_revision: int | None
    percent: int
    previous_revision: int | None


class SchedulesOut(BaseModel):
    """The schedules made with the service (ids in the training and scoring services)."""

    retraining: str | None = Field(description="GET /training/v1/schedules/{id}")
    scoring: str | None = Field(description="GET /scoring/v1/schedules/{id}")
    scoring_alias: str | None = Field(
        description="Registry alias that follows the live revision, which the scoring "
        "schedule scores with"
    )


class ServiceOut(BaseModel):
    """A published service."""

    id: uuid.UUID
    name: str
    description: str
    training_model_id: str | None
    source: dict[str, Any]
    promotion: dict[str, Any]
    traffic: TrafficOut
    pinned: bool
    revisions: int
    retraining_advised: bool
    schedules: SchedulesOut
    batching: BatchingIn | None
    predict_url: str
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    version: int

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        policy = dict(service.policy or {})
        return cls(
            id=service.id,
            name=service.name,
            description=service.description,
            training_model_id=service.training_model_id,
            source=dict(policy.get("source") or {}),
            promotion=dict(policy.get("promotion") or {}),
            traffic=TrafficOut(
                mode=service.mode,
                revision=service.primary_revision,
                secondary_revision=service.secondary_revision,
                percent=service.canary_percent,
                previous_revision=service.previous_revision,
            ),
            pinned=service.pinned,
            revisions=service.revision_count,
            retraining_advised=service.retraining_advised,
            schedules=SchedulesOut(
                retraining=service.retraining_schedule_id,
                scoring=service.scoring_schedule_id,
                scoring_alias=scoring_alias(service.name) if service.scoring_schedule_id else None,
            ),
            batching=BatchingIn.model_validate(service.batching) if service.batching else None,
            predict_url=f"/serving/v1/services/{service.name}/predict",
            tags=list(service.tags),
            created=service.created,
            updated=service.updated,
            created_by=service.created_by,
            version=service.version,
        )


class RevisionOut(BaseModel):
    """One model version of a service."""

    number: int
    training_run_id: str | None
    training_model_id: str | None
    model_uri: str
    registered_model: str | None
    model_version: str | None
    metrics: dict[str, float]
    task_type: str
    recipe: str
    inputs: list[dict[str, Any]]
    origin: str
    created: datetime

    @classmethod
    def of(cls, revision: Revision) -> RevisionOut:
        return cls(
            number=revision.number,
            training_run_id=revision.training_run_id,
            training_model_id=revision.training_model_id,
            model_uri=revision.model_uri,
            registered_model=revision.registered_model,
            model_version=revision.model_version,
            metrics=dict(revision.metrics or {}),
            task_type=revision.task_type,
            recipe=revision.recipe,
            inputs=list(revision.inputs or []),
            origin=revision.origin,
            created=revision.created,
        )


class ApiKeyCreate(BaseModel):
    """A key for an application."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="Which application holds it")


class ApiKeyOut(BaseModel):
    """An API key (its secret is never shown again)."""

    id: uuid.UUID
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it")
    created: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created=key.created,
            created_by=key.created_by,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    """A new API key, with its secret: shown this once, only its hash is kept."""

    key: str


class DecisionOut(BaseModel):
    """What automatic promotion decided about a training run's model, and why."""

    id: uuid.UUID
    training_run_id: str
    action: str
    revision: int | None
    live_revision: int | None
    metric: str | None
    candidate_value: float | None
    live_value: float | None
    reason: str
    created: datetime

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(
            id=decision.id,
            training_run_id=decision.training_run_id,
            action=decision.action,
            revision=decision.revision,
            live_revision=decision.live_revision,
            metric=decision.metric,
            candidate_value=decision.candidate_value,
            live_value=decision.live_value,
            reason=decision.reason,
            created=decision.created,
        )
