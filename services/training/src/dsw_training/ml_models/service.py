"""Use cases of models: they add and flush, the request boundary commits."""

from __future__ import annotations

import re
import uuid
from typing import Literal

import httpx

from dsw_contracts import TrainingModelChanged
from dsw_contracts._training import TrainingModelAliasSet
from dsw_kit.db import Tenant, utcnow
from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.web import UnitOfWork
from dsw_training.datasets.catalog import check_dataset
from dsw_training.ml_models import registry, repository
from dsw_training.ml_models.recipes import (
    ResolvedRecipe,
    check_features,
    resolve_recipe,
    validate_hyperparameters,
)
from dsw_training.ml_models.schemas import ModelCreate, ModelUpdate
from dsw_training.models import TrainingModel
from dsw_training.runs import service as runs_service


def experiment_name(tenant: Tenant, model_id: uuid.UUID) -> str:
    """The MLflow experiment of a model's runs (one per model)."""
    return f"dsw/{tenant.org_id}/{tenant.sandbox}/models/{model_id}"


def registered_model_name(tenant: Tenant, name: str) -> str:
    """The model's name in the MLflow Model Registry (tenant-qualified: the registry is shared).

    Organisation and sandbox names may contain dots, so a plain dotted join is ambiguous: model
    ``forecast`` of sandbox ``prod.retail`` and model ``retail.forecast`` of sandbox ``prod``
    would share one registered model, and each tenant would train into and score with the
    other's versions. Their dots become ``~`` (allowed in neither name), which keeps the name
    unambiguous and leaves the common dot-free ``<org>.<sandbox>.<name>`` as it was.
    """
    org, sandbox = (part.replace(".", "~") for part in (tenant.org_id, tenant.sandbox))
    return f"{org}.{sandbox}.{name}"


def _announce(
    work: UnitOfWork, model: TrainingModel, change: Literal["created", "updated", "deleted"]
) -> None:
    work.publish(
        f"dsw.training.model.{change}",
        str(model.id),
        TrainingModelChanged(
            model_id=str(model.id),
            name=model.name,
            recipe_id=model.recipe_id,
            version_id=model.version_id,
            change=change,
        ),
    )


def create_model(
    work: UnitOfWork, catalog: httpx.Client, recipes: httpx.Client, request: ModelCreate
) -> TrainingModel:
    """Register a model; its name must be free in the tenant, its recipe, parameters and dataset
    valid."""
    if repository.find_live_by_name(work.session, request.name) is not None:
        raise Conflict(f"a model named {request.name!r} already exists", code="name_taken")
    recipe = resolve_recipe(request.recipe.recipe_id, request.recipe.version_id, recipes)
    validate_hyperparameters(recipe, request.hyperparameters, recipes=recipes)
    if recipe.is_package:
        inputs, targets = list(request.input_features or []), list(request.target_features or [])
    else:
        recipe_class = recipe.recipe_class()
        inputs = request.input_features or list(recipe_class.input_features)
        targets = request.target_features or list(recipe_class.target_features)
    check_features(recipe, inputs, targets)
    check_dataset(work.session, catalog, str(request.dataset_id))
    model_id = uuid.uuid4()
    window = request.time_window
    model = TrainingModel(
        id=model_id,
        name=request.name,
        description=request.description,
        recipe_id=recipe.recipe_id,
        version_id=recipe.version_id,
        recipe_entry_point=recipe.entry_point,
        recipe_name=recipe.name,
        recipe_version=recipe.version,
        recipe_package_hash=recipe.package_hash,
        hyperparameters=dict(request.hyperparameters),
        dataset_id=str(request.dataset_id),
        input_features=inputs,
        target_features=targets,
        window_start=window.start if window else None,
        window_end=window.end if window else None,
        experiment_name=experiment_name(work.tenant, model_id),
        registered_model_name=registered_model_name(work.tenant, request.name),
        tags=list(request.tags),
        created_by=work.context.subject,
    )
    work.session.add(model)
    work.session.flush()
    _announce(work, model, "created")
    return model


def get_model(work: UnitOfWork, model_id: uuid.UUID) -> TrainingModel:
    """The model, or 404 (also for another tenant's or a deleted one)."""
    model = repository.get_live(work.session, model_id)
    if model is None:
        raise NotFound(f"model {model_id} not found", code="model_not_found")
    return model


def update_model(
    work: UnitOfWork,
    catalog: httpx.Client,
    recipes: httpx.Client,
    model: TrainingModel,
    changes: ModelUpdate,
) -> TrainingModel:
    """Apply changes (the version check guards concurrent updates); runs already queued keep
    their parameters."""
    values = changes.model_dump(exclude_unset=True)
    recipe = ResolvedRecipe.of_model(model)
    if changes.hyperparameters is not None:
        validate_hyperparameters(recipe, changes.hyperparameters, recipes=recipes)
        model.hyperparameters = dict(changes.hyperparameters)
    if changes.input_features is not None or changes.target_features is not None:
        inputs = changes.input_features or list(model.input_features)
        targets = changes.target_features or list(model.target_features)
        check_features(recipe, inputs, targets)
        model.input_features, model.target_features = inputs, targets
    if changes.dataset_id is not None and str(changes.dataset_id) != model.dataset_id:
        check_dataset(work.session, catalog, str(changes.dataset_id))
        model.dataset_id = str(changes.dataset_id)
    if "time_window" in values:
        window = changes.time_window
        model.window_start = window.start if window else None
        model.window_end = window.end if window else None
    if changes.description is not None:
        model.description = changes.description
    if changes.tags is not None:
        model.tags = list(changes.tags)
    work.session.flush()
    _announce(work, model, "updated")
    return model


def delete_model(work: UnitOfWork, model: TrainingModel, *, cancel_runs: bool) -> None:
    """Soft-delete; refused (409) while runs are queued or running unless they are cancelled."""
    active = repository.active_runs(work.session, model.id)
    if active and not cancel_runs:
        raise Conflict(
            f"model {model.id} has {len(active)} queued or running run(s); cancel them first "
            "or delete with ?cancel_runs=true",
            code="model_has_active_runs",
        )
    for run in active:
        runs_service.cancel_run(work, run)
    # Its schedules stop with it (kept, disabled, so that their history stays readable).
    for schedule in repository.schedules_of(work.session, model.id):
        schedule.enabled = False
        schedule.next_fire_at = schedule.pending_data_at = None
    model.deleted_at = utcnow()
    work.session.flush()
    _announce(work, model, "deleted")


ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
# ``latest`` always names the newest succeeded run; MLflow reserves it and version-like names.
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


def _check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias) or RESERVED_ALIAS.match(alias):
        raise UnprocessableEntity(
            f"{alias!r} cannot be set: use letters, digits, '_' or '-' (not 'latest' or v<N>, "
            "which MLflow reserves)",
            code="invalid_alias",
            errors=[FieldError(pointer="/path/alias", message="invalid alias name")],
        )


def set_alias(
    work: UnitOfWork, model: TrainingModel, alias: str, run_id: uuid.UUID, tracking_uri: str
) -> TrainingModel:
    """Point ``alias`` (e.g. champion) at the model version a succeeded run registered, in the
    MLflow registry and on the model (the version check guards concurrent promotions)."""
    _check_alias(alias)
    run = runs_service.get_run(work, run_id)
    if run.model_id != model.id:
        raise NotFound(f"run {run_id} is not a run of model {model.id}", code="run_not_found")
    if run.state != "succeeded" or not run.model_version:
        raise Conflict(
            f"run {run_id} is {run.state} and has no registered model version",
            code="run_not_registered",
        )
    model.aliases = {
        **(model.aliases or {}),
        alias: {
            "run_id": str(run.id),
            "model_version": run.model_version,
            "at": utcnow().isoformat(),
        },
    }
    # The row first (its version check refuses a concurrent promotion), then MLflow: if MLflow
    # fails the request fails and the row is rolled back.
    work.session.flush()
    registry.set_alias(tracking_uri, model.registered_model_name, alias, run.model_version)
    work.publish(
        "dsw.training.model.alias_set",
        str(model.id),
        TrainingModelAliasSet(
            model_id=str(model.id),
            alias=alias,
            run_id=str(run.id),
            registered_model=model.registered_model_name,
            model_version=run.model_version,
        ),
    )
    return model


def remove_alias(
    work: UnitOfWork, model: TrainingModel, alias: str, tracking_uri: str
) -> TrainingModel:
    """Remove an alias set by hand (404 if the model has no such alias)."""
    if alias not in (model.aliases or {}):
        raise NotFound(f"model {model.id} has no alias {alias!r}", code="alias_not_found")
    model.aliases = {name: target for name, target in model.aliases.items() if name != alias}
    work.session.flush()
    registry.delete_alias(tracking_uri, model.registered_model_name, alias)
    return model
