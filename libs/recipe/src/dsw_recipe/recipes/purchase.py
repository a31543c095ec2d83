"""Product purchase prediction: the propensity of each profile to purchase within the next
`horizon_days`, a LightGBM binary classifier on per-profile ExperienceEvent aggregates.

`prepare` turns events into one row per profile: counts of page views, product views, cart
adds and removals (all time, last 7 and 30 days), purchases and money spent, recency of each
kind of event, tenure and active days, all measured before a cutoff; the label says whether the
profile purchased in `[cutoff, cutoff + horizon_days)`. The booster's inputs are exactly those
aggregates, so the model is saved as a plain LightGBM model (MLflow lightgbm flavour) and
serving passes a profile's aggregates straight to the booster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsw_recipe._columns import InputField, RecipeDataError, day_numbers, resolve_fields
from dsw_recipe._context import RunContext
from dsw_recipe._contract import FastPath, Params, Recipe, Split, TaskType
from dsw_recipe._metrics import classification_metrics
from dsw_recipe._params import Param, ParamSpec
from dsw_recipe.generators import (
    CART_ADD,
    CART_REMOVE,
    PAGE_VIEW,
    PRODUCT_VIEW,
    PROFILE_FIELD,
    PURCHASE,
)
from dsw_recipe.recipes._lgb import lightgbm_callback

__all__ = ["FEATURES", "PurchasePredictionRecipe"]

# Recency of something that never happened: longer than any observation window we expect.
_NEVER_DAYS = 365.0

FEATURES = (
    "page_views",
    "product_views",
    "product_views_7d",
    "product_views_30d",
    "cart_adds",
    "cart_adds_7d",
    "cart_adds_30d",
    "cart_removals",
    "cart_removals_30d",
    "open_cart_30d",
    "purchases",
    "purchases_30d",
    "orders",
    "monetary",
    "average_order_value",
    "days_since_last_event",
    "days_since_last_product_view",
    "days_since_last_cart_add",
    "days_since_last_purchase",
    "active_days_30d",
    "tenure_days",
)


def _cutoff_day(value: str) -> float | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - datetime(1970, 1, 1)).total_seconds() / 86_400


class PurchasePredictionRecipe(Recipe[lgb.Booster]):
    """Purchase propensity per profile from ExperienceEvents (DSW "Product Purchase
    Prediction"), LightGBM binary classification."""

    name: ClassVar[str] = "product-purchase-prediction"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "Probability that a profile purchases within horizon_days, from per-profile "
        "ExperienceEvent aggregates (views, cart adds/removals, purchases, recency, monetary); "
        "LightGBM binary classifier. Metrics: AUC, log loss, precision, recall, F1, accuracy."
    )
    task_type: ClassVar[TaskType] = TaskType.CLASSIFICATION
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField(PROFILE_FIELD, "string", description="profile id (ECID)"),
        InputField("timestamp", "date-time"),
        InputField("eventType", "string", description="XDM event type"),
        InputField(
            "commerce.order.priceTotal",
            "number",
            required=False,
            description="order total, on purchase events",
        ),
    )
    input_features: ClassVar[tuple[str, ...]] = (
        PROFILE_FIELD,
        "timestamp",
        "eventType",
        "commerce.order.priceTotal",
    )
    # The target is derived: a purchase event in the window after the cutoff.
    target_features: ClassVar[tuple[str, ...]] = ("eventType",)
    key_columns: ClassVar[tuple[str, ...]] = ("profileId",)
    time_field: ClassVar[str | None] = "timestamp"
    model_flavor = "lightgbm"
    params: ClassVar[ParamSpec] = ParamSpec.of(
        # Small, slow trees: a few thousand profiles per training set is typical, and deeper
        # trees overfit them (measured on generated data against the logistic baseline).
        Param("learning_rate", "number", 0.02, "shrinkage of each tree", 0.0, 1.0, True),
        Param("n_estimators", "integer", 300, "boosting rounds", minimum=1, maximum=10_000),
        Param("num_leaves", "integer", 8, "leaves per tree", minimum=2, maximum=4096),
        Param("min_data_in_leaf", "integer", 50, "rows per leaf at least", minimum=1),
        Param("feature_fraction", "number", 0.8, "features sampled per tree", 0.0, 1.0, True),
        Param("horizon_days", "integer", 14, "prediction window after the cutoff", minimum=1),
        Param(
            "cutoff",
            "string",
            "",
            "end of the observation window, ISO date-time; empty: the last event's time minus "
            "horizon_days when training, the last event's time when scoring",
        ),
        Param("holdout_fraction", "number", 0.25, "profiles held out", 0.0, 1.0, True, True),
        Param("threshold", "number", 0.5, "probability above which prediction is 1", 0.0, 1.0),
        Param("seed", "integer", 7, "random seed (split and LightGBM)", minimum=0),
        Param("num_threads", "integer", 2, "LightGBM threads", minimum=1, maximum=256),
    )

    # -- prepare -------------------------------------------------------------------------------

    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Events -> one row per profile: the `FEATURES` before the cutoff (+ `label`)."""
        events = resolve_fields(table, self.input_fields)
        events = events.filter(
            pc.and_(pc.is_valid(events[PROFILE_FIELD]), pc.is_valid(events["timestamp"]))
        )
        if events.num_rows == 0:
            raise RecipeDataError("no events with a profile id and a timestamp")
        days = day_numbers(events["timestamp"])
        horizon = float(params["horizon_days"])
        cutoff = _cutoff_day(str(params["cutoff"]))
        if cutoff is None:
            # Scoring: every event is history (the tiny offset keeps the last one inside).
            cutoff = days.max() + 1e-6 if scoring else days.max() - horizon
        profiles, inverse = np.unique(
            np.asarray(events[PROFILE_FIELD].to_numpy(zero_copy_only=False), dtype=object),
            return_inverse=True,
        )
        kinds = np.asarray(events["eventType"].to_numpy(zero_copy_only=False), dtype=object)
        totals = events["commerce.order.priceTotal"].to_numpy(zero_copy_only=False)
        totals = np.asarray(totals, dtype=np.float64)
        before = days < cutoff
        matrix = self._aggregate(profiles, inverse, kinds, totals, days, before, cutoff)
        seen = matrix[:, FEATURES.index("tenure_days")] >= 0  # any event before the cutoff
        columns: dict[str, pa.Array] = {"profileId": pa.array(profiles[seen], pa.string())}
        for index, name in enumerate(FEATURES):
            columns[name] = pa.array(matrix[seen, index], pa.float64())
        if not scoring:
            after = (days >= cutoff) & (days < cutoff + horizon) & (kinds == PURCHASE)
            bought = np.bincount(inverse[after], minlength=len(profiles)) > 0
            columns["label"] = pa.array(bought[seen].astype(np.int64))
        result = pa.table(columns)
        if result.num_rows == 0:
            raise RecipeDataError("no profile has events before the cutoff")
        ctx.progress("prepare", 90, rows=result.num_rows)
        return result

    def _aggregate(
        self,
        profiles: np.ndarray,
        inverse: np.ndarray,
        kinds: np.ndarray,
        totals: np.ndarray,
        days: np.ndarray,
        before: np.ndarray,
        cutoff: float,
    ) -> np.ndarray:
        count = len(profiles)
        age = cutoff - days  # days before the cutoff

        def tally(kind: str | None, within: float | None = None) -> np.ndarray:
            mask = before.copy()
            if kind is not None:
                mask &= kinds == kind
            if within is not None:
                mask &= age <= within
            return np.bincount(inverse[mask], minlength=count).astype(np.float64)

        def since_last(kind: str | None) -> np.ndarray:
            mask = before if kind is None else before & (kinds == kind)
            latest = np.full(count, np.inf)
            np.minimum.at(latest, inverse[mask], age[mask])
            return np.where(np.isinf(latest), _NEVER_DAYS, latest)

        purchase = before & (kinds == PURCHASE)
        # One order = one purchase timestamp of a profile; its total repeats on every line, so
        # take the first line of each order.
        buyer, bought_at = inverse[purchase], days[purchase]
        order_id = buyer.astype(np.float64) * 1e6 + bought_at  # days < 1e6: unique per order
        _, first_line = np.unique(order_id, return_index=True)
        orders = np.bincount(buyer[first_line], minlength=count).astype(np.float64)
        order_totals = np.nan_to_num(totals[purchase][first_line])
        monetary = np.bincount(buyer[first_line], weights=order_totals, minlength=count)
        earliest = np.full(count, -np.inf)
        np.maximum.at(earliest, inverse[before], age[before])
        day_index = np.floor(days).astype(np.int64)
        recent = before & (age <= 30)
        active = np.unique(inverse[recent] * 1_000_000 + day_index[recent])
        active_days = np.bincount(active // 1_000_000, minlength=count).astype(np.float64)
        cart_adds_30d = tally(CART_ADD, 30)
        cart_removals_30d = tally(CART_REMOVE, 30)
        purchases_30d = tally(PURCHASE, 30)
        values = {
            "page_views": tally(PAGE_VIEW),
            "product_views": tally(PRODUCT_VIEW),
            "product_views_7d": tally(PRODUCT_VIEW, 7),
            "product_views_30d": tally(PRODUCT_VIEW, 30),
            "cart_adds": tally(CART_ADD),
            "cart_adds_7d": tally(CART_ADD, 7),
            "cart_adds_30d": cart_adds_30d,
            "cart_removals": tally(CART_REMOVE),
            "cart_removals_30d": cart_removals_30d,
            "open_cart_30d": np.maximum(cart_adds_30d - cart_removals_30d - purchases_30d, 0),
            "purchases": tally(PURCHASE),
            "purchases_30d": purchases_30d,
            "orders": orders,
            "monetary": monetary,
            "average_order_value": np.divide(
                monetary, orders, out=np.zeros(count), where=orders > 0
            ),
            "days_since_last_event": since_last(None),
            "days_since_last_product_view": since_last(PRODUCT_VIEW),
            "days_since_last_cart_add": since_last(CART_ADD),
            "days_since_last_purchase": since_last(PURCHASE),
            "active_days_30d": active_days,
            # -1 marks profiles with no event before the cutoff (dropped by the caller).
            "tenure_days": np.where(np.isinf(earliest), -1.0, earliest),
        }
        return np.column_stack([values[name] for name in FEATURES])

    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """A seeded random `holdout_fraction` of profiles is held out (rows are profiles)."""
        rng = np.random.default_rng(int(params["seed"]))
        holdout = rng.random(features.num_rows) < float(params["holdout_fraction"])
        if holdout.all() or not holdout.any():
            raise RecipeDataError("too few profiles to hold some out")
        mask = pa.array(holdout)
        return Split(features.filter(pc.invert(mask)), features.filter(mask))

    # -- train / evaluate / score --------------------------------------------------------------

    @staticmethod
    def matrix(features: pa.Table) -> np.ndarray:
        """The `FEATURES` columns as a float matrix, in booster order."""
        return np.column_stack(
            [features[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in FEATURES]
        )

    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> lgb.Booster:
        """LightGBM binary classifier."""
        labels = train["label"].to_numpy()
        if len(np.unique(labels)) < 2:
            raise RecipeDataError("training profiles all have the same label")
        rounds = int(params["n_estimators"])
        ctx.progress("train", 0, rows=len(labels))
        return lgb.train(
            {
                "objective": "binary",
                "learning_rate": params["learning_rate"],
                "num_leaves": params["num_leaves"],
                "min_data_in_leaf": params["min_data_in_leaf"],
                "feature_fraction": params["feature_fraction"],
                "seed": params["seed"],
                "num_threads": params["num_threads"],
                "deterministic": True,
                "verbose": -1,
            },
            lgb.Dataset(self.matrix(train), labels, feature_name=list(FEATURES)),
            num_boost_round=rounds,
            callbacks=[lightgbm_callback(ctx, rounds, start=0, end=100)],
        )

    def evaluate(
        self, model: lgb.Booster, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """AUC, log loss, precision, recall, F1, accuracy (at `threshold`) on held-out profiles."""
        probabilities = np.asarray(model.predict(self.matrix(holdout), num_threads=1))
        metrics = classification_metrics(
            holdout["label"].to_numpy(), probabilities, threshold=float(params["threshold"])
        )
        metrics["positive_rate"] = float(np.mean(holdout["label"].to_numpy()))
        return metrics

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """scikit-learn LogisticRegression on log1p-scaled, standardised features."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        model = make_pipeline(
            FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression(max_iter=1000)
        )
        model.fit(self.matrix(train), train["label"].to_numpy())
        probabilities = model.predict_proba(self.matrix(holdout))[:, 1]
        return classification_metrics(
            holdout["label"].to_numpy(), probabilities, threshold=float(params["threshold"])
        )

    def score(
        self, model: lgb.Booster, features: pa.Table, params: Params, ctx: RunContext
    ) -> pa.Table:
        """`profileId`, `probability` of a purchase within the horizon, `prediction` (0/1)."""
        probabilities = np.asarray(model.predict(self.matrix(features), num_threads=1))
        return pa.table(
            {
                "profileId": features["profileId"],
                "probability": pa.array(probabilities, pa.float64()),
                "prediction": pa.array(
                    (probabilities >= float(params["threshold"])).astype(np.int64)
                ),
            }
        )

    # -- persistence and serving ---------------------------------------------------------------

    def booster(self, model: lgb.Booster) -> lgb.Booster:
        """The model is the booster."""
        return model

    def model_from_booster(self, booster: lgb.Booster) -> lgb.Booster:
        """The model is the booster."""
        return booster

    def model_inputs(self, model: lgb.Booster) -> tuple[InputField, ...]:
        """The per-profile aggregates, in booster order (what serving sends)."""
        return tuple(InputField(name, "number") for name in FEATURES)

    def fast_path(self, model: lgb.Booster) -> FastPath:
        """Booster + stacking of the aggregate columns in order."""

        def build(columns: Mapping[str, np.ndarray]) -> np.ndarray:
            return np.column_stack(
                [np.asarray(columns[name], dtype=np.float64) for name in FEATURES]
            )

        return FastPath(
            booster=model,
            feature_names=FEATURES,
            inputs=self.model_inputs(model),
            build_features=build,
        )
