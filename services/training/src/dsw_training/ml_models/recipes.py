"""Which recipe a model uses and which hyperparameters it accepts.

A model names its recipe as the recipes service does (recipe id + version id). The built-in
recipes are also known by the name and version ``dsw_recipe`` gives them (``retail-sales`` /
``1.0.0``), which is how they resolve without a registry. Hyperparameters are checked in one place,
:func:`validate_hyperparameters`, against the recipe's parameter spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsw_recipe import BUILTIN_RECIPES, ParamValidationError, Recipe, get_recipe

from dsw_kit.errors import FieldError, UnprocessableEntity


@dataclass(frozen=True)
class ResolvedRecipe:
    """A recipe version a worker can run."""

    recipe_id: str
    version_id: str
    name: str
    version: str
    entry_point: str
    fields: tuple[str, ...]
    input_features: tuple[str, ...]
    target_features: tuple[str, ...]

    def recipe_class(self) -> type[Recipe[Any]]:
        """The recipe class (imported on demand)."""
        return get_recipe(self.entry_point)


def resolve_recipe(recipe_id: str, version_id: str) -> ResolvedRecipe:
    """The recipe version, or 422 ``recipe_not_found``."""
    if recipe_id in BUILTIN_RECIPES:
        recipe = get_recipe(recipe_id)
        if version_id in (recipe.version, f"{recipe.name}@{recipe.version}"):
            return ResolvedRecipe(
                recipe_id=recipe_id,
                version_id=recipe.version,
                name=recipe.name,
                version=recipe.version,
                entry_point=BUILTIN_RECIPES[recipe_id],
                fields=tuple(field.name for field in recipe.input_fields),
                input_features=tuple(recipe.input_features),
                target_features=tuple(recipe.target_features),
            )
        raise UnprocessableEntity(
            f"recipe {recipe_id!r} has no version {version_id!r}; built-in version is "
            f"{recipe.version!r}",
            code="recipe_version_not_found",
            errors=[FieldError(pointer="/body/recipe/version_id", message="unknown version")],
        )
    known = ", ".join(sorted(BUILTIN_RECIPES))
    raise UnprocessableEntity(
        f"recipe {recipe_id!r} is not known; available: {known}",
        code="recipe_not_found",
        errors=[FieldError(pointer="/body/recipe/recipe_id", message="unknown recipe")],
    )


def validate_hyperparameters(
    recipe: ResolvedRecipe, values: dict[str, Any], *, pointer: str = "/body/hyperparameters"
) -> dict[str, Any]:
    """The full, typed parameter set (defaults filled in), or 422 listing every bad field."""
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


def check_features(recipe: ResolvedRecipe, inputs: list[str], targets: list[str]) -> None:
    """422 unless every named feature is one of the recipe's input fields."""
    errors = [
        FieldError(
            pointer=f"/body/{kind}/{index}", message=f"{name!r} is not a field the recipe reads"
        )
        for kind, names in (("input_features", inputs), ("target_features", targets))
        for index, name in enumerate(names)
        if name not in recipe.fields
    ]
    if errors:
        raise UnprocessableEntity(
            f"features must be among {', '.join(recipe.fields)}",
            code="unknown_features",
            errors=errors,
        )
