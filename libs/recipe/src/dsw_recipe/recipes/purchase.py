"""Product purchase prediction: the probability that a person known at a cutoff buys within the
next `horizon_days`, a LightGBM binary classifier on per-person aggregates.

Input is either XDM ExperienceEvents (commerce events with an `eventType`; the person from
`endUserIDs` or, through the model's field mapping, `identityMap`) or a flat transactions table
(one row per order line, no event type: every row is a purchase line, a negative quantity a
return). The model's field mapping says which dataset field feeds each input field.

`prepare` makes one row per person and cutoff (a snapshot): recency, frequency and monetary
value, basket shape (lines, units and products per order), returns, the rhythm of orders (mean
gap, how overdue the next order is), seasonality (orders in the same period a year earlier, the
cutoff's month) and web behaviour (views, cart adds), all from before the cutoff; the label says
whether the person bought in `[cutoff, cutoff + horizon_days)`.

Training uses `training_snapshots` snapshots `snapshot_days` apart, the latest `horizon_days`
before the evaluated cutoff, so every training label is known before it; the evaluation is on
every person known at the cutoff (the last snapshot). A share of the training people
(`validation_fraction`) is kept for early stopping on the log loss (the output is a
probability, so it must stay calibrated). The baseline is a logistic regression on recency,
frequency and monetary value alone, trained on the same snapshots. The booster's inputs are
exactly the aggregates, so the model is saved as a plain LightGBM model and serving passes a
person's aggregates straight to it.
"""

from __future__ import annotations

import zlib
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
from dsw_recipe._metrics import classification_metrics, top_decile_lift
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

__all__ = ["FEATURES", "RFM_FEATURES", "PurchasePredictionRecipe"]

# Recency of something that never happened: longer than any observation window we expect.
_NEVER_DAYS = 365.0
_ORDER_ID = "commerce.order.purchaseID"
_QUANTITY = "productListItems.quantity"
_LINE_TOTAL = "productListItems.priceTotal"
_ORDER_TOTAL = "commerce.order.priceTotal"

FEATURES = (
    # recency, frequency, monetary value
    "days_since_last_purchase",
    "days_since_first_purchase",
    "orders",
    "orders_30d",
    "orders_90d",
    "monetary",
    "monetary_90d",
    "average_order_value",
    # basket
    "lines_per_order",
    "units_per_order",
    "distinct_products",
    # returns
    "returns",
    "return_value_share",
    "days_since_last_return",
    # rhythm
    "mean_days_between_orders",
    "overdue_ratio",
    "active_days_30d",
    # seasonality
    "orders_same_period_last_year",
    "cutoff_month_sin",
    "cutoff_month_cos",
    # web behaviour (ExperienceEvents; zero on a transactions table)
    "page_views_30d",
    "product_views_30d",
    "cart_adds_30d",
    "open_cart_30d",
    "days_since_last_event",
    "days_since_last_cart_add",
    "tenure_days",
)
# The baseline's inputs: recency, frequency and monetary value.
RFM_FEATURES = ("days_since_last_purchase", "orders", "monetary")


def _cutoff_day(value: str) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise RecipeDataError(f"cutoff {value!r} is not an ISO date or date-time") from error
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - datetime(1970, 1, 1)).total_seconds() / 86_400


def _month(day: float) -> int:
    """Month (1-12) of a day number."""
    return int(np.datetime64(int(day), "D").astype("datetime64[M]").astype(int) % 12 + 1)


class _Rows:
    """The events as arrays: who, when, what kind, which order, product, units, value."""

    def __init__(self, events: pa.Table) -> None:
        def array(name: str) -> np.ndarray:
            return np.asarray(events[name].to_numpy(zero_copy_only=False))

        self.people, self.person = np.unique(
            np.asarray(array(PROFILE_FIELD), dtype=object), return_inverse=True
        )
        self.days = day_numbers(events["timestamp"])
        kinds = np.asarray(array("eventType"), dtype=object)
        untyped = np.asarray(pc.is_null(events["eventType"]).to_numpy(zero_copy_only=False))
        self.kinds = np.where(untyped, PURCHASE, kinds)  # a transactions table: order lines
        quantity = np.asarray(array(_QUANTITY), dtype=np.float64)
        line = np.asarray(array(_LINE_TOTAL), dtype=np.float64)
        unit = np.asarray(array("unitPrice"), dtype=np.float64)
        line = np.where(np.isnan(line), quantity * unit, line)
        lines = self.kinds == PURCHASE
        self.returned = lines & ((quantity < 0) | (line < 0))
        self.bought = lines & ~self.returned
        self.quantity = np.where(np.isnan(quantity), 1.0, np.abs(quantity))
        self.line_value = np.abs(np.nan_to_num(line))
        self.order_total = np.asarray(array(_ORDER_TOTAL), dtype=np.float64)
        order = np.asarray(array(_ORDER_ID), dtype=object)
        # Without an order id, one order = one purchase time of a person.
        missing = np.asarray(pc.is_null(events[_ORDER_ID]).to_numpy(zero_copy_only=False))
        keys = np.where(missing, self.days.astype(str), order.astype(str))
        _, key_codes = np.unique(keys, return_inverse=True)
        _, self.order = np.unique(
            self.person.astype(np.int64) * (int(key_codes.max()) + 1) + key_codes,
            return_inverse=True,
        )
        sku = np.asarray(
            pc.fill_null(events["productListItems.SKU"], "").to_numpy(zero_copy_only=False),
            dtype=object,
        )
        names, self.product = np.unique(sku, return_inverse=True)
        self.product_count = len(names)
        self.product[sku == ""] = -1


class PurchasePredictionRecipe(Recipe[lgb.Booster]):
    """Purchase propensity per person from ExperienceEvents or transactions (DSW "Product
    Purchase Prediction"), LightGBM binary classification."""

    name: ClassVar[str] = "product-purchase-prediction"
    version: ClassVar[str] = "2.0.0"
    description: ClassVar[str] = (
        "Probability that a person buys within horizon_days, from recency, frequency, monetary "
        "value, basket and return behaviour, seasonality and web events; works on commerce "
        "ExperienceEvents or a flat transactions table. LightGBM binary classifier trained on "
        "earlier snapshots. Metrics: AUC, top-decile lift, log loss, precision, recall, F1, "
        "accuracy; baseline: logistic regression on RFM."
    )
    task_type: ClassVar[TaskType] = TaskType.CLASSIFICATION
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField(PROFILE_FIELD, "string", description="the person (ECID, CRM id, customer id)"),
        InputField("timestamp", "date-time"),
        InputField(
            "eventType",
            "string",
            required=False,
            description="XDM event type (absent: every row is an order line)",
        ),
        InputField(_ORDER_TOTAL, "number", required=False, description="order total"),
        InputField(_ORDER_ID, "string", required=False, description="order (invoice) id"),
        InputField("productListItems.SKU", "string", required=False, description="product"),
        InputField(_QUANTITY, "number", required=False, description="units (negative: a return)"),
        InputField(_LINE_TOTAL, "number", required=False, description="line value"),
        InputField(
            "unitPrice",
            "number",
            required=False,
            description="price of one unit, when line values are absent (transactions)",
        ),
    )
    input_features: ClassVar[tuple[str, ...]] = tuple(field.name for field in input_fields)
    # The target is derived: a purchase in the window after the cutoff.
    target_features: ClassVar[tuple[str, ...]] = ("timestamp",)
    key_columns: ClassVar[tuple[str, ...]] = ("profileId",)
    time_field: ClassVar[str | None] = "timestamp"
    model_flavor = "lightgbm"
    params: ClassVar[ParamSpec] = ParamSpec.of(
        Param("learning_rate", "number", 0.02, "shrinkage of each tree", 0.0, 1.0, True),
        Param("n_estimators", "integer", 1000, "boosting rounds at most", 1, 10_000),
        Param("num_leaves", "integer", 8, "leaves per tree", minimum=2, maximum=4096),
        Param("min_data_in_leaf", "integer", 50, "rows per leaf at least", minimum=1),
        Param("feature_fraction", "number", 0.8, "features sampled per tree", 0.0, 1.0, True),
        Param("horizon_days", "integer", 30, "prediction window after the cutoff", minimum=1),
        Param(
            "cutoff",
            "string",
            "",
            "the evaluated cutoff, ISO date or date-time; empty: the last event's time minus "
            "horizon_days when training, the last event's time when scoring",
        ),
        Param(
            "training_snapshots",
            "integer",
            12,
            "earlier cutoffs whose people and labels train the model (the latest one "
            "horizon_days before the evaluated cutoff)",
            minimum=1,
            maximum=104,
        ),
        Param("snapshot_days", "number", 7.0, "days between training snapshots", 0.0, None, True),
        Param(
            "validation_fraction",
            "number",
            0.2,
            "share of training people kept for early stopping",
            0.0,
            1.0,
            False,
            True,
        ),
        Param("early_stopping_rounds", "integer", 50, "rounds without gain before stopping", 1),
        Param(
            "holdout_fraction",
            "number",
            0.25,
            "people held out when the data allow no earlier snapshot",
            0.0,
            1.0,
            True,
            True,
        ),
        Param("threshold", "number", 0.5, "probability above which prediction is 1", 0.0, 1.0),
        Param("seed", "integer", 7, "random seed (split and LightGBM)", minimum=0),
        Param("num_threads", "integer", 2, "LightGBM threads", minimum=1, maximum=256),
    )

    # -- prepare -------------------------------------------------------------------------------

    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Events -> one row per person and cutoff: `profileId`, `cutoff_day`, the `FEATURES`
        (+ `label` unless scoring)."""
        events = resolve_fields(table, self.input_fields)
        events = events.filter(
            pc.and_(pc.is_valid(events[PROFILE_FIELD]), pc.is_valid(events["timestamp"]))
        )
        if events.num_rows == 0:
            raise RecipeDataError("no events with a person and a timestamp")
        rows = _Rows(events)
        horizon = float(params["horizon_days"])
        cutoff = _cutoff_day(str(params["cutoff"]))
        if scoring:
            # Every event is history (the tiny offset keeps the last one inside).
            cutoffs = [cutoff if cutoff is not None else float(np.nanmax(rows.days)) + 1e-6]
        else:
            last = cutoff if cutoff is not None else float(np.nanmax(rows.days)) - horizon
            first = float(np.nanmin(rows.days))
            count, spacing = int(params["training_snapshots"]), float(params["snapshot_days"])
            # Training labels end before the evaluated cutoff; each snapshot needs some history
            # before it (a horizon's worth at least).
            earlier = [last - horizon - step * spacing for step in range(count)]
            cutoffs = [day for day in reversed(earlier) if day >= first + horizon] + [last]
        tables = []
        for day in cutoffs:
            matrix, known = self._aggregate(rows, day, horizon)
            columns: dict[str, pa.Array] = {
                "profileId": pa.array(rows.people[known], pa.string()),
                "cutoff_day": pa.array(np.full(int(known.sum()), day), pa.float64()),
            }
            for index, name in enumerate(FEATURES):
                columns[name] = pa.array(matrix[known, index], pa.float64())
            if not scoring:
                after = rows.bought & (rows.days >= day) & (rows.days < day + horizon)
                bought = np.bincount(rows.person[after], minlength=len(rows.people)) > 0
                columns["label"] = pa.array(bought[known].astype(np.int64))
            tables.append(pa.table(columns))
        result = pa.concat_tables(tables)
        if result.num_rows == 0:
            raise RecipeDataError("no person has events before the cutoff")
        ctx.progress("prepare", 90, rows=result.num_rows)
        return result

    def _aggregate(
        self, rows: _Rows, cutoff: float, horizon: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(people x FEATURES matrix, which people have an event before the cutoff)."""
        count = len(rows.people)
        before = rows.days < cutoff
        age = cutoff - rows.days  # days before the cutoff
        person = rows.person

        def tally(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            chosen = before & mask
            return np.bincount(
                person[chosen],
                weights=None if weights is None else weights[chosen],
                minlength=count,
            ).astype(np.float64)

        def since_last(mask: np.ndarray) -> np.ndarray:
            chosen = before & mask
            latest = np.full(count, np.inf)
            np.minimum.at(latest, person[chosen], age[chosen])
            return np.where(np.isinf(latest), _NEVER_DAYS, latest)

        def first_seen(mask: np.ndarray) -> np.ndarray:
            chosen = before & mask
            earliest = np.full(count, -np.inf)
            np.maximum.at(earliest, person[chosen], age[chosen])
            return earliest

        # Orders: one per order id; its value is the order total when given, else its lines.
        bought = before & rows.bought
        orders_seen, first_line = np.unique(rows.order[bought], return_index=True)
        order_person = person[bought][first_line]
        order_age = age[bought][first_line]
        line_sum = np.bincount(
            np.searchsorted(orders_seen, rows.order[bought]),
            weights=rows.line_value[bought],
            minlength=len(orders_seen),
        )
        given = rows.order_total[bought][first_line]
        order_value = np.where(np.isnan(given), line_sum, given)

        def per_order(weights: np.ndarray | None = None, within: float | None = None) -> np.ndarray:
            keep = np.ones(len(order_person), dtype=bool) if within is None else order_age <= within
            return np.bincount(
                order_person[keep],
                weights=None if weights is None else weights[keep],
                minlength=count,
            ).astype(np.float64)

        orders = per_order()
        monetary = per_order(order_value)
        mean_gap = np.zeros(count)
        last_purchase = since_last(rows.bought)
        first_purchase = first_seen(rows.bought)
        has_two = orders >= 2
        span = np.where(np.isinf(first_purchase), 0.0, first_purchase) - np.where(
            last_purchase >= _NEVER_DAYS, 0.0, last_purchase
        )
        mean_gap[has_two] = span[has_two] / (orders[has_two] - 1)
        overdue = np.divide(last_purchase, mean_gap, out=np.zeros(count), where=mean_gap > 0)
        returned_value = tally(rows.returned, rows.line_value)
        bought_value = tally(rows.bought, rows.line_value)
        products = np.zeros(count)
        named = bought & (rows.product >= 0)
        if named.any():
            pairs = np.unique(
                person[named].astype(np.int64) * rows.product_count + rows.product[named]
            )
            owners = pairs // rows.product_count
            products = np.bincount(owners, minlength=count).astype(np.float64)
        recent = before & (age <= 30)
        day_index = np.floor(rows.days).astype(np.int64)
        active = np.unique(person[recent] * 1_000_000 + day_index[recent])
        active_days = np.bincount(active // 1_000_000, minlength=count).astype(np.float64)
        last_year = (order_age > 365 - horizon) & (order_age <= 365)
        kinds = rows.kinds
        within_30 = age <= 30
        cart_adds_30d = tally((kinds == CART_ADD) & within_30)
        cart_removals_30d = tally((kinds == CART_REMOVE) & within_30)
        angle = 2 * np.pi * (_month(cutoff) - 1) / 12
        earliest = first_seen(np.ones(len(person), dtype=bool))
        values = {
            "days_since_last_purchase": last_purchase,
            "days_since_first_purchase": np.where(
                np.isinf(first_purchase), _NEVER_DAYS, first_purchase
            ),
            "orders": orders,
            "orders_30d": per_order(within=30),
            "orders_90d": per_order(within=90),
            "monetary": monetary,
            "monetary_90d": per_order(order_value, within=90),
            "average_order_value": np.divide(
                monetary, orders, out=np.zeros(count), where=orders > 0
            ),
            "lines_per_order": np.divide(
                tally(rows.bought), orders, out=np.zeros(count), where=orders > 0
            ),
            "units_per_order": np.divide(
                tally(rows.bought, rows.quantity), orders, out=np.zeros(count), where=orders > 0
            ),
            "distinct_products": products,
            "returns": tally(rows.returned),
            "return_value_share": np.divide(
                returned_value,
                bought_value,
                out=np.zeros(count),
                where=bought_value > 0,
            ),
            "days_since_last_return": since_last(rows.returned),
            "mean_days_between_orders": mean_gap,
            "overdue_ratio": overdue,
            "active_days_30d": active_days,
            "orders_same_period_last_year": np.bincount(
                order_person[last_year], minlength=count
            ).astype(np.float64),
            "cutoff_month_sin": np.full(count, np.sin(angle)),
            "cutoff_month_cos": np.full(count, np.cos(angle)),
            "page_views_30d": tally((kinds == PAGE_VIEW) & within_30),
            "product_views_30d": tally((kinds == PRODUCT_VIEW) & within_30),
            "cart_adds_30d": cart_adds_30d,
            "open_cart_30d": np.maximum(
                cart_adds_30d - cart_removals_30d - per_order(within=30), 0
            ),
            "days_since_last_event": since_last(np.ones(len(person), dtype=bool)),
            "days_since_last_cart_add": since_last(kinds == CART_ADD),
            "tenure_days": np.where(np.isinf(earliest), -1.0, earliest),
        }
        return np.column_stack([values[name] for name in FEATURES]), ~np.isinf(earliest)

    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """The last snapshot (the cutoff) is held out, the earlier ones train; with a single
        snapshot, a seeded random `holdout_fraction` of people is held out."""
        cutoffs = features["cutoff_day"].to_numpy()
        last = cutoffs.max()
        if (cutoffs < last).any():
            held = pc.equal(features["cutoff_day"], last)
            return Split(features.filter(pc.invert(held)), features.filter(held))
        rng = np.random.default_rng(int(params["seed"]))
        holdout = rng.random(features.num_rows) < float(params["holdout_fraction"])
        if holdout.all() or not holdout.any():
            raise RecipeDataError("too few people to hold some out")
        mask = pa.array(holdout)
        return Split(features.filter(pc.invert(mask)), features.filter(mask))

    # -- train / evaluate / score --------------------------------------------------------------

    @staticmethod
    def matrix(features: pa.Table, names: tuple[str, ...] = FEATURES) -> np.ndarray:
        """The `names` columns (default `FEATURES`) as a float matrix, in that order."""
        return np.column_stack(
            [features[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in names]
        )

    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> lgb.Booster:
        """LightGBM binary classifier; early stopping on the people kept for validation."""
        labels = train["label"].to_numpy()
        if len(np.unique(labels)) < 2:
            raise RecipeDataError("training people all have the same label")
        rounds = int(params["n_estimators"])
        seed, fraction = int(params["seed"]), float(params["validation_fraction"])
        valid = np.array(
            [
                zlib.crc32(f"{seed}:{person}".encode()) % 1000 < fraction * 1000
                for person in train["profileId"].to_pylist()
            ],
            dtype=bool,
        )
        if len(np.unique(labels[valid])) < 2 or valid.all():
            valid[:] = False
        ctx.progress("train", 0, rows=len(labels))
        matrix = self.matrix(train)
        training = lgb.Dataset(matrix[~valid], labels[~valid], feature_name=list(FEATURES))
        callbacks = [lightgbm_callback(ctx, rounds, start=0, end=100)]
        valid_sets = []
        if valid.any():
            valid_sets.append(
                lgb.Dataset(matrix[valid], labels[valid], feature_name=list(FEATURES))
            )
            callbacks.append(
                lgb.early_stopping(
                    int(params["early_stopping_rounds"]), first_metric_only=True, verbose=False
                )
            )
        booster = lgb.train(
            {
                "objective": "binary",
                "metric": ["binary_logloss", "auc"],
                "learning_rate": params["learning_rate"],
                "num_leaves": params["num_leaves"],
                "min_data_in_leaf": params["min_data_in_leaf"],
                "feature_fraction": params["feature_fraction"],
                "seed": seed,
                "num_threads": params["num_threads"],
                "deterministic": True,
                "verbose": -1,
            },
            training,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["validation"] if valid_sets else None,
            callbacks=callbacks,
        )
        if valid_sets:
            ctx.log_metrics(
                {
                    "validation_best_iteration": float(booster.best_iteration),
                    "validation_auc": float(booster.best_score["validation"]["auc"]),
                    "validation_log_loss": float(
                        booster.best_score["validation"]["binary_logloss"]
                    ),
                }
            )
        return booster

    def _metrics(
        self, labels: np.ndarray, probabilities: np.ndarray, params: Params
    ) -> dict[str, float]:
        metrics = classification_metrics(
            labels, probabilities, threshold=float(params["threshold"])
        )
        metrics["lift_top_decile"] = top_decile_lift(labels, probabilities)
        return metrics

    def evaluate(
        self, model: lgb.Booster, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """AUC, top-decile lift, log loss, precision, recall, F1, accuracy (at `threshold`)."""
        probabilities = np.asarray(model.predict(self.matrix(holdout), num_threads=1))
        labels = holdout["label"].to_numpy()
        metrics = self._metrics(labels, probabilities, params)
        metrics["positive_rate"] = float(np.mean(labels))
        return metrics

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """scikit-learn LogisticRegression on log1p-scaled, standardised recency, frequency and
        monetary value, trained on the same snapshots."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        model = make_pipeline(
            FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression(max_iter=1000)
        )
        model.fit(self.matrix(train, RFM_FEATURES), train["label"].to_numpy())
        probabilities = model.predict_proba(self.matrix(holdout, RFM_FEATURES))[:, 1]
        return self._metrics(holdout["label"].to_numpy(), probabilities, params)

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
        """The per-person aggregates, in booster order (what serving sends)."""
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
