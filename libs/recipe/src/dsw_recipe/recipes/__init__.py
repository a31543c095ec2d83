"""The built-in recipes (LightGBM): retail sales forecast, product purchase prediction and
product recommendations."""

from .purchase import PurchasePredictionRecipe
from .retail import RetailModel, RetailSalesRecipe

__all__ = ["PurchasePredictionRecipe", "RetailModel", "RetailSalesRecipe"]
