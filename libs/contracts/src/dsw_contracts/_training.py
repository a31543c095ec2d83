"""Events and commands the training service publishes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from dsw_contracts._topics import EventPayload


class TrainingModelChanged(EventPayload):
    """``dsw.training.model.created|updated|deleted``: a model (DSW MLInstance) changed."""

    event_type: ClassVar[str] = "dsw.training.model.changed"
    model_id: str
    name: str = ""
    recipe_id: str
    version_id: str
    change: Literal["created", "updated", "deleted"]


class TrainingRunRequested(EventPayload):
    """``dsw.training.run.requested`` (command): a run is queued; wakes a training worker."""

    event_type: ClassVar[str] = "dsw.training.run.requested"
    run_id: str
    model_id: str


class TrainingRunChanged(EventPayload):
    """``dsw.training.run.queued|started|progress|succeeded|failed|cancelled``.

    ``succeeded`` carries the evaluation metrics and the registered model version; ``failed``
    the error; ``progress`` the stage, percent done and rows handled.
    """

    event_type: ClassVar[str] = "dsw.training.run.changed"
    run_id: str
    model_id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    attempt: int = 0
    stage: str | None = None
    percent: float | None = None
    rows: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    mlflow_run_id: str | None = None
    registered_model: str | None = None
    model_version: str | None = None
    error: str | None = None
    sweep_id: str | None = None
    schedule_id: str | None = None
    # The MLflow model URI of the run's logged model (``runs:/<id>/model``) and the registry
    # aliases the new version carries (``latest``), so that consumers need not ask MLflow.
    model_uri: str | None = None
    aliases: list[str] = Field(default_factory=list)
    # Why the platform cancelled the run (e.g. ``pruned: ...`` for a sweep trial).
    cancel_reason: str | None = None


class TrainingSweepFinished(EventPayload):
    """``dsw.training.sweep.finished``: a hyperparameter sweep ended (or was cancelled)."""

    event_type: ClassVar[str] = "dsw.training.sweep.finished"
    sweep_id: str
    model_id: str
    state: Literal["succeeded", "failed", "cancelled"]
    trials: int = 0
    objective: str = ""
    best_run_id: str | None = None
    best_value: float | None = None


class TrainingScheduleTicked(EventPayload):
    """``dsw.training.schedule.fired|skipped``: a schedule started a run, or could not.

    ``trigger`` is ``cron`` or ``new_data``; a skipped tick says why (e.g. the schedule's
    previous run is still running).
    """

    event_type: ClassVar[str] = "dsw.training.schedule.ticked"
    schedule_id: str
    model_id: str
    trigger: Literal["cron", "new_data"]
    outcome: Literal["fired", "skipped"]
    run_id: str | None = None
    reason: str | None = None
    missed_ticks: int = 0


class TrainingModelAliasSet(EventPayload):
    """``dsw.training.model.alias_set``: a registry alias (``champion``) now names a version."""

    event_type: ClassVar[str] = "dsw.training.model.alias_set"
    model_id: str
    alias: str
    run_id: str
    registered_model: str
    model_version: str
