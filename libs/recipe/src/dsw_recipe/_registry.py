"""Finding recipes: built-ins, installed packages' entry points, `module:Class` references."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ._contract import Recipe
from ._models import resolve_entry_point

__all__ = [
    "BUILTIN_RECIPES",
    "ENTRY_POINT_GROUP",
    "builtin_recipes",
    "get_recipe",
    "installed_recipes",
]

ENTRY_POINT_GROUP = "dsw.recipes"

BUILTIN_RECIPES: dict[str, str] = {
    "retail-sales": "dsw_recipe.recipes.retail:RetailSalesRecipe",
    "product-purchase-prediction": "dsw_recipe.recipes.purchase:PurchasePredictionRecipe",
    "product-recommendations": "dsw_recipe.recipes.recommendations:ProductRecommendationsRecipe",
}


def builtin_recipes() -> dict[str, type[Recipe[Any]]]:
    """The three built-in recipes by name."""
    return {name: resolve_entry_point(reference) for name, reference in BUILTIN_RECIPES.items()}


def installed_recipes() -> dict[str, str]:
    """Recipes that installed distributions declare in the `dsw.recipes` entry-point group
    (name -> `module:Class`); nothing is imported."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def get_recipe(reference: str) -> type[Recipe[Any]]:
    """A recipe class from a built-in name, an installed entry-point name, or `module:Class`."""
    if reference in BUILTIN_RECIPES:
        return resolve_entry_point(BUILTIN_RECIPES[reference])
    installed = installed_recipes()
    if reference in installed:
        return resolve_entry_point(installed[reference])
    if ":" in reference:
        return resolve_entry_point(reference)
    known = ", ".join(sorted({*BUILTIN_RECIPES, *installed}))
    raise LookupError(f"unknown recipe {reference!r}; known: {known}")
