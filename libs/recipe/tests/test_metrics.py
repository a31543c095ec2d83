"""Metric directions and the top-decile lift."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from dsw_recipe import MetricDirection, metric_direction, top_decile_lift
from dsw_recipe.recipes import (
    ProductRecommendationsRecipe,
    PurchasePredictionRecipe,
    RetailSalesRecipe,
)


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("mape", "min"),
        ("baseline_rmse", "min"),
        ("mase", "min"),
        ("log_loss", "min"),
        ("validation_binary_logloss", "min"),
        ("map_at_5", "max"),  # not "mape": the console once starred the worse run for it
        ("ndcg_at_10", "max"),
        ("als_recall_at_10", "max"),
        ("auc", "max"),
        ("lift_top_decile", "max"),
        ("precision", "max"),
    ],
)
def test_metric_direction_by_name(name: str, direction: str) -> None:
    assert metric_direction(name) == direction


def test_a_recipe_declares_its_own_directions() -> None:
    class Custom(RetailSalesRecipe):
        metric_directions: ClassVar[dict[str, MetricDirection]] = {"error_budget_left": "max"}

    assert Custom.direction("error_budget_left") == "max"  # the name alone would say lower
    assert Custom.direction("mape") == "min"
    assert Custom.describe()["metricDirections"] == {"error_budget_left": "max"}
    assert ProductRecommendationsRecipe.direction("map_at_10") == "max"
    assert PurchasePredictionRecipe.direction("lift_top_decile") == "max"


def test_top_decile_lift() -> None:
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    perfect = np.array([1.0 if label else 0.0 for label in labels])
    assert top_decile_lift(labels, perfect) == pytest.approx(1 / 0.2)
    assert top_decile_lift(labels, -perfect) == 0.0
    assert np.isnan(top_decile_lift(np.zeros(5), np.arange(5.0)))
