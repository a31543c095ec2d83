"""The built-in recipes (LightGBM): retail sales forecast, product purchase prediction and
product recommendations."""

from .retail import RetailModel, RetailSalesRecipe

__all__ = ["RetailModel", "RetailSalesRecipe"]
