"""Use cases of scoring runs: they add and flush, the request boundary commits.

A run is validated completely before it is queued: the model version is pinned, the input
dataset must hold every input the model requires, and the output dataset is created (or checked
compatible) now, so that a worker never starts work that was bound to fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from dsw_contracts import EventPayload
from dsw_contracts.scoring import ScoringRunChanged, ScoringRunRequested
from dsw_kit.db import utcnow
from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_scoring import catalog
from dsw_scoring.models import ScoringRun
from dsw_scoring.runs.model_ref import ResolvedModel, resolve_model
from dsw_scoring.runs.schemas import RunCreate, WindowIn

FINAL_STATES = ("succeeded", "failed", "cancelled")
_TIME_TYPES = ("date", "date-time")


def run_event(run: ScoringRun) -> ScoringRunChanged:
    """The event payload describing ``run`` now."""
    return ScoringRunChanged(
        run_id=str(run.id),
        state=run.state,
        attempt=run.attempts,
        input_dataset_id=run.input_dataset_id,
        output_dataset_id=run.output_dataset_id,
        output_batch_id=run.output_batch_id,
        training_model_id=run.training_model_id,
        registered_model=run.registered_model,
        model_version=run.model_version,
        rows_total=run.rows_total,
        rows_scored=run.rows_scored,
        error=run.error,
        trigger=run.trigger,
        schedule_id=str(run.schedule_id) if run.schedule_id else None,
    )


def prediction_columns(task_type: str) -> list[tuple[str, str]]:
    """The columns a model of ``task_type`` predicts (after the key columns)."""
    if task_type == "ranking":
        return [("rank", "integer"), ("itemId", "string"), ("score", "number")]
    return [("prediction", "number")]


def output_columns(model: ResolvedModel) -> list[tuple[str, str]]:
    """Key columns (typed as the model's inputs) then prediction columns."""
    types = {str(item["name"]): str(item["type"]) for item in model.inputs}
    keys = [(name, types.get(name, "string")) for name in model.key_columns]
    return keys + prediction_columns(model.task_type)


def match_inputs(model: ResolvedModel, fields: list[str]) -> dict[str, str]:
    """The input column of each model input and key column; 422 naming the missing ones."""
    columns: dict[str, str] = {}
    missing: list[str] = []
    wanted = [(str(item["name"]), bool(item.get("required", True))) for item in model.inputs]
    wanted += [(name, True) for name in model.key_columns if name not in dict(wanted)]
    for name, required in wanted:
        found = catalog.find_column(fields, name)
        if found is not None:
            columns[name] = found
        elif required:
            missing.append(name)
    if missing:
        detail = (
            f"the input dataset lacks features the model needs: {', '.join(missing)} "
            f"(its fields: {', '.join(fields)})"
        )
        raise UnprocessableEntity(
            detail,
            code="missing_features",
            errors=[
                FieldError(
                    pointer="/body/input_dataset_id",
                    message=f"missing feature {name}",
                    code="missing_feature",
                )
                for name in missing
            ],
        )
    return columns


def window_field(model: ResolvedModel, window: WindowIn) -> str:
    """The model input the window applies to (a date or date-time input)."""
    times = [str(item["name"]) for item in model.inputs if item.get("type") in _TIME_TYPES]
    field = window.field or (times[0] if times else None)
    if field is None or field not in times:
        detail = (
            f"the window needs a date or date-time input of the model; "
            f"choose one of: {', '.join(times) or '(the model has none)'}"
        )
        raise UnprocessableEntity(
            detail,
            code="invalid_window",
            errors=[FieldError(pointer="/body/window/field", message=detail)],
        )
    return field


Publish = Callable[[str, str, EventPayload], object]


def request_run(
    session: Session,
    publish: Publish,
    subject: str,
    catalog_client: httpx.Client,
    training_client: httpx.Client,
    body: RunCreate,
    *,
    tracking_uri: str,
    trigger: str = "api",
    schedule_id: uuid.UUID | None = None,
    only_batch: str | None = None,
) -> ScoringRun:
    """Validate and queue a run, and wake a worker (``only_batch``: score one input batch).

    ``publish`` queues an event in the outbox of ``session``'s transaction."""
    model = resolve_model(training_client, body.model, tracking_uri)
    input_id = str(body.input_dataset_id)
    fields = catalog.dataset_fields(catalog_client, input_id, "/body/input_dataset_id")
    input_columns = match_inputs(model, fields)
    field = window_field(model, body.window) if body.window else None
    files = catalog.snapshot(catalog_client, input_id)
    if only_batch is not None:
        files = [item for item in files if item["batch_id"] == only_batch]
    columns = output_columns(model)
    if body.output.dataset_id is not None:
        output_id = str(body.output.dataset_id)
        mapping = catalog.match_output_dataset(catalog_client, output_id, columns)
    else:
        assert body.output.name is not None
        output_id, mapping = catalog.create_output_dataset(
            catalog_client, body.output.name, columns
        )
    run = ScoringRun(
        state="queued",
        model_ref=body.model.model_dump(mode="json", exclude_none=True),
        training_model_id=model.training_model_id,
        training_run_id=model.training_run_id,
        registered_model=model.registered_model,
        model_version=model.model_version,
        model_uri=model.model_uri,
        recipe=model.recipe,
        model_inputs=model.inputs,
        key_columns=model.key_columns,
        input_dataset_id=input_id,
        snapshot=files,
        input_columns=input_columns,
        window_field=field,
        window_start=body.window.start if body.window else None,
        window_end=body.window.end if body.window else None,
        output_dataset_id=output_id,
        output_dataset_created=body.output.dataset_id is None,
        output_columns=mapping,
        rows_total=sum(int(item["rows"]) for item in files),
        trigger=trigger,
        schedule_id=schedule_id,
        tags=list(body.tags),
        created_by=subject,
    )
    session.add(run)
    session.flush()
    publish("dsw.scoring.run.queued", str(run.id), run_event(run))
    publish("dsw.scoring.run.requested", str(run.id), ScoringRunRequested(run_id=str(run.id)))
    return run


def runs_query(
    *,
    state: str | None = None,
    input_dataset_id: str | None = None,
    schedule_id: uuid.UUID | None = None,
) -> Select[ScoringRun]:
    """A select of runs, filtered."""
    query = select(ScoringRun)
    if state:
        query = query.where(ScoringRun.state == state)
    if input_dataset_id:
        query = query.where(ScoringRun.input_dataset_id == input_dataset_id)
    if schedule_id:
        query = query.where(ScoringRun.schedule_id == schedule_id)
    return query


def get_run(session: Session, run_id: uuid.UUID) -> ScoringRun:
    """The run, or 404 (also for another tenant's)."""
    run = session.scalar(select(ScoringRun).where(ScoringRun.id == run_id))
    if run is None:
        raise NotFound(f"scoring run {run_id} not found", code="run_not_found")
    return run


def cancel_run(work: UnitOfWork, run: ScoringRun) -> ScoringRun:
    """Cancel a queued run at once; ask the worker of a running one to stop between chunks."""
    if run.state in FINAL_STATES:
        raise Conflict(f"scoring run {run.id} already {run.state}", code="run_finished")
    session = work.session
    # Guarded updates, no version check: the worker renews the lease of a running run meanwhile
    # and a queued run may be claimed between our read and our write.
    values: dict[str, Any] = {
        "state": "cancelled",
        "cancel_requested": True,
        "finished_at": utcnow(),
        "lease_owner": None,
        "lease_expires": None,
    }
    queued = session.execute(
        update(ScoringRun)
        .where(ScoringRun.id == run.id, ScoringRun.state == "queued")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(queued, "rowcount", 0) == 0:
        session.execute(
            update(ScoringRun)
            .where(ScoringRun.id == run.id, ScoringRun.state == "running")
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
    session.expire(run)
    session.refresh(run)
    if run.state == "cancelled":
        work.publish("dsw.scoring.run.cancelled", str(run.id), run_event(run))
    return run


def output_columns_of_run(run: ScoringRun) -> dict[str, str]:
    """Each output column of the run (in order) with its recipe type."""
    types = {str(item["name"]): str(item["type"]) for item in run.model_inputs}
    predicted = dict(prediction_columns("ranking")) | dict(prediction_columns(""))
    return {name: types.get(name) or predicted.get(name, "number") for name in run.output_columns}
