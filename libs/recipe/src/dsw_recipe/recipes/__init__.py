"""The built-in recipes (LightGBM): retail sales forecast, product purchase prediction and
product recommendations."""

from .purchase import PurchasePredictionRecipe
from .recommendations import ProductRecommendationsRecipe, RecommendationModel
from .retail import RetailModel, RetailSalesRecipe

__all__ = [
    "ProductRecommendationsRecipe",
    "PurchasePredictionRecipe",
    "RecommendationModel",
    "RetailModel",
    "RetailSalesRecipe",
]
