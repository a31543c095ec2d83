"""Use cases of sweeps: they add and flush, the request boundary commits."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_training.datasets.catalog import dataset_snapshot
from dsw_training.ml_models.recipes import (
    ResolvedRecipe,
    model_metric_direction,
    validate_hyperparameters,
)
from dsw_training.models import Sweep, TrainingModel, TrainingRun
from dsw_training.sweeps.schemas import SweepCreate, TrialCounts
from dsw_training.sweeps.strategies import grid_points


def _check_space(model: TrainingModel, request: SweepCreate) -> None:
    """Every searched parameter is one of the recipe's, and its bounds and values are valid."""
    recipe = ResolvedRecipe.of_model(model)
    known = set(recipe.recipe_class().params.names())
    unknown = [
        FieldError(pointer=f"/body/space/{name}", message="not a parameter of the recipe")
        for name in request.space
        if name not in known
    ]
    if unknown:
        raise UnprocessableEntity(
            f"the recipe's parameters are {', '.join(sorted(known))}",
            code="invalid_space",
            errors=unknown,
        )
    base = {**model.hyperparameters, **request.hyperparameters}
    validate_hyperparameters(recipe, base)
    for name, spec in request.space.items():
        candidates: list[Any] = list(spec.values or [])
        if spec.low is not None and spec.high is not None:
            bound = int if spec.type == "int" else float
            candidates += [bound(spec.low), bound(spec.high)]
        for value in candidates:
            validate_hyperparameters(recipe, {**base, name: value}, pointer="/body/space")
    if request.strategy == "grid":
        try:
            points = grid_points(request.model_dump(mode="json")["space"])
        except ValueError as error:
            raise UnprocessableEntity(str(error), code="invalid_space") from error
        if not points:
            raise UnprocessableEntity("the grid is empty", code="invalid_space")


def create_sweep(
    work: UnitOfWork, catalog: httpx.Client, model: TrainingModel, request: SweepCreate
) -> Sweep:
    """Register a sweep; a sweep driver starts its trials."""
    _check_space(model, request)
    dataset_id = str(request.dataset_id or model.dataset_id)
    snapshot = dataset_snapshot(catalog, dataset_id)
    sweep = Sweep(
        model_id=model.id,
        state="running",
        strategy=request.strategy,
        space=request.model_dump(mode="json", exclude_none=True)["space"],
        fixed_hyperparameters=dict(request.hyperparameters),
        objective_metric=request.objective.metric,
        direction=request.objective.direction
        or model_metric_direction(model, request.objective.metric),
        max_trials=request.max_trials,
        max_seconds=request.max_seconds,
        parallelism=request.parallelism,
        seed=request.seed,
        early_stopping=request.early_stopping.model_dump() if request.early_stopping else None,
        dataset_id=dataset_id,
        snapshot=snapshot,
        tags=list(request.tags),
        created_by=work.context.subject,
    )
    work.session.add(sweep)
    work.session.flush()
    return sweep


def get_sweep(work: UnitOfWork, sweep_id: uuid.UUID) -> Sweep:
    """The sweep, or 404 (also for another tenant's)."""
    sweep = work.session.scalar(select(Sweep).where(Sweep.id == sweep_id))
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found", code="sweep_not_found")
    return sweep


def trial_counts(session: Session, sweep_id: uuid.UUID) -> TrialCounts:
    """How many of the sweep's trials are in each state."""
    rows = session.execute(
        select(TrainingRun.state, TrainingRun.cancel_reason).where(TrainingRun.sweep_id == sweep_id)
    ).all()
    states = Counter(row.state for row in rows)
    pruned = sum(1 for row in rows if (row.cancel_reason or "").startswith("pruned"))
    return TrialCounts(total=sum(states.values()), pruned=pruned, **dict(states))


def cancel_sweep(work: UnitOfWork, sweep: Sweep) -> Sweep:
    """Ask the sweep's driver to cancel its trials and stop."""
    if sweep.state != "running":
        raise Conflict(f"sweep {sweep.id} already {sweep.state}", code="sweep_finished")
    work.session.execute(
        update(Sweep)
        .where(Sweep.id == sweep.id, Sweep.state == "running")
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    work.session.expire(sweep)
    work.session.refresh(sweep)
    return sweep
