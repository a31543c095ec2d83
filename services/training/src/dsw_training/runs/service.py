"""Use cases of training runs: they add and flush, the request boundary commits."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any, Literal

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from dsw_contracts import EventPayload, TrainingRunChanged, TrainingRunRequested
from dsw_kit.db import utcnow
from dsw_kit.errors import BadRequest, Conflict, NotFound
from dsw_kit.web import UnitOfWork
from dsw_training.datasets.catalog import dataset_snapshot
from dsw_training.ml_models.recipes import ResolvedRecipe, validate_hyperparameters
from dsw_training.models import TrainingModel, TrainingRun
from dsw_training.runs import repository
from dsw_training.runs.schemas import BestRun, ComparedRun, ComparisonOut, RunCreate

FINAL_STATES = ("succeeded", "failed", "cancelled")


def run_event(run: TrainingRun, **extra: Any) -> TrainingRunChanged:
    """The event payload describing ``run`` now."""
    return TrainingRunChanged(
        run_id=str(run.id),
        model_id=str(run.model_id),
        state=run.state,
        attempt=run.attempts,
        stage=run.stage,
        percent=run.percent,
        rows=run.rows,
        metrics=dict(run.metrics or {}) if run.state == "succeeded" else {},
        mlflow_run_id=run.mlflow_run_id,
        registered_model=run.registered_model,
        model_version=run.model_version,
        error=run.error,
        sweep_id=str(run.sweep_id) if run.sweep_id else None,
        schedule_id=str(run.schedule_id) if run.schedule_id else None,
        model_uri=run.model_uri,
        # Every newly registered version gets the ``latest`` alias (see child.py).
        aliases=["latest"] if run.state == "succeeded" and run.model_version else [],
        cancel_reason=run.cancel_reason,
        **extra,
    )


Publish = Callable[[str, str, EventPayload], object]
Trigger = Literal["api", "sweep", "schedule", "new_data"]


def request_run(
    work: UnitOfWork,
    catalog: httpx.Client,
    recipes: httpx.Client | None,
    model: TrainingModel,
    body: RunCreate,
    *,
    trigger: Trigger = "api",
    sweep_id: uuid.UUID | None = None,
) -> TrainingRun:
    """Queue a run of ``model`` on the dataset's files as they are now, and wake a worker."""
    recipe = ResolvedRecipe.of_model(model)
    params = validate_hyperparameters(
        recipe, {**model.hyperparameters, **body.hyperparameters}, recipes=recipes
    )
    dataset_id = str(body.dataset_id or model.dataset_id)
    return queue_run(
        work.session,
        work.publish,
        model,
        params=params,
        overrides=dict(body.hyperparameters),
        dataset_id=dataset_id,
        snapshot=dataset_snapshot(catalog, dataset_id),
        trigger=trigger,
        created_by=work.context.subject,
        tags=list(body.tags),
        sweep_id=sweep_id,
    )


def queue_run(
    session: Session,
    publish: Publish,
    model: TrainingModel,
    *,
    params: dict[str, Any],
    overrides: dict[str, Any],
    dataset_id: str,
    snapshot: list[dict[str, Any]],
    trigger: Trigger,
    created_by: str,
    tags: list[str] | None = None,
    sweep_id: uuid.UUID | None = None,
    schedule_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> TrainingRun:
    """Add a queued run with validated ``params`` and announce it (queued + the command)."""
    run = TrainingRun(
        id=run_id or uuid.uuid4(),
        org_id=model.org_id,
        sandbox=model.sandbox,
        model_id=model.id,
        state="queued",
        params=params,
        param_overrides=overrides,
        dataset_id=dataset_id,
        snapshot=snapshot,
        trigger=trigger,
        sweep_id=sweep_id,
        schedule_id=schedule_id,
        tags=list(tags or []),
        created_by=created_by,
    )
    session.add(run)
    session.flush()
    publish("dsw.training.run.queued", str(run.id), run_event(run))
    publish(
        "dsw.training.run.requested",
        str(run.id),
        TrainingRunRequested(run_id=str(run.id), model_id=str(model.id)),
    )
    return run


def get_run(work: UnitOfWork, run_id: uuid.UUID) -> TrainingRun:
    """The run, or 404 (also for another tenant's)."""
    run = repository.get(work.session, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", code="run_not_found")
    return run


def cancel_run(work: UnitOfWork, run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once; ask the worker of a running one to stop its process."""
    if run.state in FINAL_STATES:
        raise Conflict(f"run {run.id} already {run.state}", code="run_finished")
    session = work.session
    # Guarded updates (no version check): the worker renews the lease of a running run at the
    # same time, and a queued run may be claimed between our read and our write.
    cancelled_while_queued = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run.id, TrainingRun.state == "queued")
        .values(
            state="cancelled",
            cancel_requested=True,
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(cancelled_while_queued, "rowcount", 0) == 0:
        session.execute(
            update(TrainingRun)
            .where(TrainingRun.id == run.id, TrainingRun.state == "running")
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
    session.expire(run)
    session.refresh(run)
    if run.state == "cancelled":
        work.publish("dsw.training.run.cancelled", str(run.id), run_event(run))
    return run


def record_metrics(session: Session, run: TrainingRun, metrics: dict[str, float]) -> None:
    """Keep a finished run's finite metrics in the table runs are ordered by."""
    from dsw_training.models import RunMetric

    for name, value in metrics.items():
        if math.isfinite(value):
            session.add(
                RunMetric(
                    run_id=run.id, name=name, value=value, org_id=run.org_id, sandbox=run.sandbox
                )
            )


def compare_runs(
    runs: list[TrainingRun], metric: str | None, direction: Literal["min", "max"]
) -> ComparisonOut:
    """Parameters and metrics side by side, the parameters that differ, and the best run."""
    if not runs:
        raise BadRequest("name at least one run of this model", code="no_runs")
    ids = [str(run.id) for run in runs]
    param_names = sorted({name for run in runs for name in run.params})
    metric_names = sorted({name for run in runs for name in (run.metrics or {})})
    params = {name: {str(run.id): run.params.get(name) for run in runs} for name in param_names}
    metrics = {
        name: {str(run.id): float(run.metrics[name]) for run in runs if name in (run.metrics or {})}
        for name in metric_names
    }
    differing = [
        name for name in param_names if len({repr(params[name][run_id]) for run_id in ids}) > 1
    ]
    best = None
    if metric is not None:
        scored = [
            (float(run.metrics[metric]), run.id)
            for run in runs
            if metric in (run.metrics or {}) and math.isfinite(float(run.metrics[metric]))
        ]
        if scored:
            value, run_id = (min if direction == "min" else max)(scored, key=lambda item: item[0])
            best = BestRun(run_id=run_id, value=value)
    return ComparisonOut(
        metric=metric,
        direction=direction,
        runs=[
            ComparedRun(
                id=run.id,
                state=run.state,
                created=run.created,
                params=dict(run.params),
                metrics=dict(run.metrics or {}),
                baseline_metrics=dict(run.baseline_metrics) if run.baseline_metrics else None,
            )
            for run in runs
        ],
        params=params,
        metrics=metrics,
        differing_params=differing,
        best=best,
    )
