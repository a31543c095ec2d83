"""Which recipe a model uses and which hyperparameters it accepts.

A model names its recipe as the recipes service does (recipe id + version id, UUIDs): the
registry says what the version is and checks hyperparameters (``POST .../validate``). The
built-in recipes are also known by the name and version ``dsw_recipe`` gives them
(``retail-sales`` / ``1.0.0``), which resolve and validate locally, without the registry.
Hyperparameters are checked in one place, :func:`validate_hyperparameters`.

Training workers run recipe code installed with the service (the built-ins and recipes of
installed distributions) and the code of uploaded or git-imported packages, which a worker
downloads from the recipes service and imports only inside the run's training process (never in
the API): for those, hyperparameters are checked by the registry only, and features are not
checked against the recipe when the model is created (the training process checks the data).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from dsw_recipe import (
    BUILTIN_RECIPES,
    MetricDirection,
    ParamValidationError,
    Recipe,
    get_recipe,
    metric_direction,
)

from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import Conflict, FieldError, ServiceUnavailable, UnprocessableEntity
from dsw_training.models import TrainingModel

RECIPES = "/recipes/v1/recipes"


@dataclass(frozen=True)
class ResolvedRecipe:
    """A recipe version a worker can run."""

    recipe_id: str
    version_id: str
    name: str
    version: str
    entry_point: str
    # Whether the recipes service names it (then it validates hyperparameters).
    registered: bool
    # The content hash of an uploaded or imported package (None: code installed with us).
    package_hash: str | None = None

    @property
    def is_package(self) -> bool:
        """Whether its code lives in a package the API never imports."""
        return self.package_hash is not None

    def recipe_class(self) -> type[Recipe[Any]]:
        """The recipe class (imported on demand; not for packages)."""
        if self.is_package:
            raise UnprocessableEntity(
                f"{self.name} {self.version} is a recipe package: sweeps need an installed recipe",
                code="recipe_is_package",
            )
        return get_recipe(self.entry_point)

    @property
    def fields(self) -> tuple[str, ...] | None:
        """Every field the recipe reads (None: unknown to the API, for packages)."""
        if self.is_package:
            return None
        return tuple(field.name for field in self.recipe_class().input_fields)

    @classmethod
    def of_model(cls, model: TrainingModel) -> ResolvedRecipe:
        """The recipe a model was created with (no lookup)."""
        return cls(
            recipe_id=model.recipe_id,
            version_id=model.version_id,
            name=model.recipe_name,
            version=model.recipe_version,
            entry_point=model.recipe_entry_point,
            registered=model.recipe_id not in BUILTIN_RECIPES,
            package_hash=model.recipe_package_hash,
        )


def _unknown(recipe_id: str) -> UnprocessableEntity:
    known = ", ".join(sorted(BUILTIN_RECIPES))
    return UnprocessableEntity(
        f"recipe {recipe_id!r} is not known: name a recipe of the recipes service by id, or a "
        f"built-in by name ({known})",
        code="recipe_not_found",
        errors=[FieldError(pointer="/body/recipe/recipe_id", message="unknown recipe")],
    )


def resolve_recipe(
    recipe_id: str, version_id: str, recipes: httpx.Client | None = None
) -> ResolvedRecipe:
    """The recipe version, or 422 ``recipe_not_found`` / ``recipe_version_not_found``."""
    if recipe_id in BUILTIN_RECIPES:
        recipe = get_recipe(recipe_id)
        if version_id in (recipe.version, f"{recipe.name}@{recipe.version}"):
            return ResolvedRecipe(
                recipe_id=recipe_id,
                version_id=recipe.version,
                name=recipe.name,
                version=recipe.version,
                entry_point=BUILTIN_RECIPES[recipe_id],
                registered=False,
            )
        raise UnprocessableEntity(
            f"recipe {recipe_id!r} has no version {version_id!r}; built-in version is "
            f"{recipe.version!r}",
            code="recipe_version_not_found",
            errors=[FieldError(pointer="/body/recipe/version_id", message="unknown version")],
        )
    try:
        uuid.UUID(recipe_id)
        uuid.UUID(version_id)
    except ValueError as error:
        raise _unknown(recipe_id) from error
    if recipes is None:
        raise ServiceUnavailable("the recipes service is needed to resolve this recipe")
    try:
        response = recipes.get(f"{RECIPES}/{recipe_id}/versions/{version_id}")
    except httpx.TransportError as error:
        raise ServiceUnavailable("the recipes service is unreachable; retry shortly") from error
    if response.status_code == 404:
        raise UnprocessableEntity(
            f"version {version_id} of recipe {recipe_id} not found in the recipes service",
            code="recipe_version_not_found",
            errors=[FieldError(pointer="/body/recipe/version_id", message="unknown version")],
        )
    raise_for_problem(response)
    version = response.json()
    if version.get("status") != "active":
        raise UnprocessableEntity(
            f"version {version_id} is {version.get('status')}; choose an active version",
            code="recipe_version_deprecated",
        )
    entry_point = str(version["entry_point"])
    if version.get("source") in ("upload", "git"):
        manifest = version.get("manifest") or {}
        return ResolvedRecipe(
            recipe_id=recipe_id,
            version_id=version_id,
            name=str(manifest.get("name") or recipe_id),
            version=str(version.get("version") or manifest.get("version") or ""),
            entry_point=entry_point,
            registered=True,
            package_hash=str(version["content_hash"]),
        )
    try:
        recipe = get_recipe(entry_point)
    except (LookupError, ImportError, ValueError) as error:
        raise UnprocessableEntity(
            f"recipe version {version_id} ({entry_point}) is not installed on the training "
            "workers and is not a package of the recipes service",
            code="recipe_not_runnable",
        ) from error
    return ResolvedRecipe(
        recipe_id=recipe_id,
        version_id=version_id,
        name=recipe.name,
        version=str(version.get("version") or recipe.version),
        entry_point=entry_point,
        registered=True,
    )


def validate_hyperparameters(
    recipe: ResolvedRecipe,
    values: dict[str, Any],
    *,
    recipes: httpx.Client | None = None,
    pointer: str = "/body/hyperparameters",
) -> dict[str, Any]:
    """The full, typed parameter set (defaults filled in), or 422 listing every bad field.

    A registered recipe is checked by the recipes service when a client is given (the API acting
    for a request); otherwise, and for built-ins named by name, by the recipe's own spec.
    """
    if recipe.registered and recipes is not None:
        return _validate_remotely(recipe, values, recipes, pointer)
    if recipe.is_package:
        # Checked by the registry when the model or run was requested; the training process
        # validates again against the package's own spec.
        return dict(values)
    try:
        resolved = recipe.recipe_class().validate_params(values)
    except ParamValidationError as error:
        raise UnprocessableEntity(
            f"{len(error.errors)} invalid hyperparameter(s) for {recipe.name} {recipe.version}",
            code="invalid_hyperparameters",
            errors=[
                FieldError(pointer=f"{pointer}/{item.field}", message=item.message)
                for item in error.errors
            ],
        ) from error
    return dict(resolved)


def _validate_remotely(
    recipe: ResolvedRecipe, values: dict[str, Any], recipes: httpx.Client, pointer: str
) -> dict[str, Any]:
    url = f"{RECIPES}/{recipe.recipe_id}/versions/{recipe.version_id}/validate"
    try:
        response = recipes.post(url, json={"params": values})
    except httpx.TransportError as error:
        raise ServiceUnavailable("the recipes service is unreachable; retry shortly") from error
    if response.status_code == 422:
        problem = response.json()
        errors = [
            FieldError(
                pointer=pointer + str(item.get("pointer", "")).removeprefix("/params"),
                message=str(item.get("message", "invalid")),
            )
            for item in problem.get("errors") or []
        ]
        raise UnprocessableEntity(
            f"{len(errors)} invalid hyperparameter(s) for {recipe.name} {recipe.version}",
            code="invalid_hyperparameters",
            errors=errors,
        )
    if response.status_code == 409:
        # The registry knows a package's parameter spec once its smoke run imported it.
        raise Conflict(
            str(response.json().get("detail") or "the recipe version is not validated yet"),
            code="recipe_not_validated",
        )
    raise_for_problem(response)
    params: dict[str, Any] = response.json()["params"]
    return params


def check_features(recipe: ResolvedRecipe, inputs: list[str], targets: list[str]) -> None:
    """422 unless every named feature is one of the recipe's input fields."""
    fields = recipe.fields
    if fields is None:
        return  # a package's fields are known only to its training process
    errors = [
        FieldError(
            pointer=f"/body/{kind}/{index}", message=f"{name!r} is not a field the recipe reads"
        )
        for kind, names in (("input_features", inputs), ("target_features", targets))
        for index, name in enumerate(names)
        if name not in fields
    ]
    if errors:
        raise UnprocessableEntity(
            f"features must be among {', '.join(fields)}", code="unknown_features", errors=errors
        )


def model_metric_direction(model: TrainingModel, metric: str) -> MetricDirection:
    """Whether lower or higher `metric` is better for `model`: as its recipe declares (installed
    recipes), else by the metric's name (errors and losses lower; package code is never imported
    here)."""
    if model.recipe_package_hash is None:
        try:
            return get_recipe(model.recipe_entry_point).direction(metric)
        except (ImportError, LookupError, ValueError):
            pass
    return metric_direction(metric)
