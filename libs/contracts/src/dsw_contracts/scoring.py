"""Events and commands the scoring service publishes."""

from __future__ import annotations

from typing import ClassVar, Literal

from dsw_contracts._topics import EventPayload

__all__ = ["ScoringRunChanged", "ScoringRunRequested"]


class ScoringRunRequested(EventPayload):
    """``dsw.scoring.run.requested`` (command): a scoring run is queued; wakes a scoring worker."""

    event_type: ClassVar[str] = "dsw.scoring.run.requested"
    run_id: str


class ScoringRunChanged(EventPayload):
    """``dsw.scoring.run.queued|started|succeeded|failed|cancelled``.

    Counts are rows: ``rows_total`` in the input snapshot, ``rows_scored`` written to the output.
    ``succeeded`` names the output batch (a batch of ``output_dataset_id`` in the catalog);
    ``failed`` carries the error.
    """

    event_type: ClassVar[str] = "dsw.scoring.run.changed"
    run_id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    attempt: int = 0
    input_dataset_id: str
    output_dataset_id: str
    output_batch_id: str | None = None
    training_model_id: str | None = None
    registered_model: str | None = None
    model_version: str | None = None
    rows_total: int = 0
    rows_scored: int = 0
    error: str | None = None
    trigger: str = "api"
    schedule_id: str | None = None
