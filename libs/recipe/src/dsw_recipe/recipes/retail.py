"""Retail sales forecast: weekly sales per store, a LightGBM regression on calendar parts,
store attributes, economic indicators and per-store sales lags.

The forecast is `horizon_weeks` ahead: the features of week t use sales up to week t - horizon
only, so the lags of a held-out week are the actual sales a forecaster would have had then. The
model keeps each store's recent sales history, so a request needs only the week's raw fields;
rows that carry `weeklySales` extend that history (batch scoring of a later period).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsw_recipe._columns import InputField, RecipeDataError, day_numbers, parse_time, resolve_fields
from dsw_recipe._context import RunContext
from dsw_recipe._contract import FastPath, Params, Recipe, Split, TaskType
from dsw_recipe._metrics import regression_metrics
from dsw_recipe._params import Param, ParamSpec

from ._lgb import lightgbm_callback, load_booster, save_booster

__all__ = ["RetailModel", "RetailSalesRecipe"]

_STORE_TYPES = ("A", "B", "C")
_SEASONAL_LAGS = (51, 52, 53)  # a year back, and a week either side for moving holidays
_KEY_BASE = 1_000_000  # store * base + week index: one int64 key per (store, week)


@dataclass
class RetailModel:
    """Booster, feature names, per-store sales history and the training-period MASE scale."""

    booster: lgb.Booster
    feature_names: list[str]
    history_keys: np.ndarray  # sorted int64 (store, week) keys
    history_sales: np.ndarray  # float64 sales for history_keys
    horizon: int
    recent_lags: int
    log_target: bool
    mase_scale: float


def _week_index(days: np.ndarray) -> np.ndarray:
    # Weeks counted from the epoch; any weekday maps consistently (the data's dates are Fridays).
    return np.floor(days / 7.0).astype(np.int64)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if len(keys) == 0:
        return np.full(len(wanted), np.nan)
    index = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[index] == wanted, values[index], np.nan)


def _merge_history(
    keys: np.ndarray, sales: np.ndarray, new_keys: np.ndarray, new_sales: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """History with new observations added; a new value for an existing key wins."""
    known = ~np.isnan(new_sales)
    all_keys = np.concatenate([new_keys[known], keys])
    all_sales = np.concatenate([new_sales[known], sales])
    unique, first = np.unique(all_keys, return_index=True)  # first occurrence = the new value
    return unique, all_sales[first]


def _recent_history(
    keys: np.ndarray, sales: np.ndarray, lag_weeks: int
) -> tuple[np.ndarray, np.ndarray]:
    """The weeks any lag can still reach; older history is dead weight in the saved model."""
    if len(keys) == 0:
        return keys, sales
    week = keys % _KEY_BASE
    recent = week >= week.max() - (lag_weeks + max(_SEASONAL_LAGS))
    return keys[recent], sales[recent]


def _as_days(values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[us]").astype(np.int64) / 86_400_000_000
    return day_numbers(parse_time(pa.array(values)))


def _as_float(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([np.nan if value is None else float(value) for value in values])
    return values.astype(np.float64)


class RetailSalesRecipe(Recipe[RetailModel]):
    """Weekly sales per store (DSW "Retail Sales" recipe), LightGBM regression."""

    name: ClassVar[str] = "retail-sales"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "Forecasts weekly sales per store, horizon_weeks ahead, from calendar parts, store "
        "attributes, economic indicators and per-store sales lags (LightGBM regression). "
        "Metrics: MAPE, MAE, RMSE, MASE on the last holdout_weeks weeks."
    )
    task_type: ClassVar[TaskType] = TaskType.REGRESSION
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField("date", "date", description="week (the DSW sample writes M/D/YY)"),
        InputField("store", "integer"),
        InputField("storeType", "string", description="A, B or C"),
        InputField("storeSize", "integer"),
        InputField("temperature", "number"),
        InputField("regionalFuelPrice", "number"),
        InputField("markdown", "number"),
        InputField("cpi", "number"),
        InputField("unemployment", "number"),
        InputField("isHoliday", "boolean"),
        InputField("weeklySales", "number", description="target; extends history when scoring"),
    )
    input_features: ClassVar[tuple[str, ...]] = (
        "date",
        "store",
        "storeType",
        "storeSize",
        "temperature",
        "regionalFuelPrice",
        "markdown",
        "cpi",
        "unemployment",
        "isHoliday",
    )
    target_features: ClassVar[tuple[str, ...]] = ("weeklySales",)
    key_columns: ClassVar[tuple[str, ...]] = ("date", "store")
    time_field: ClassVar[str | None] = "date"
    params: ClassVar[ParamSpec] = ParamSpec.of(
        Param("learning_rate", "number", 0.05, "shrinkage of each tree", 0.0, 1.0, True),
        Param("n_estimators", "integer", 200, "boosting rounds", minimum=1, maximum=10_000),
        Param("num_leaves", "integer", 31, "leaves per tree", minimum=2, maximum=4096),
        Param("max_depth", "integer", -1, "tree depth limit (-1: none)", minimum=-1, maximum=64),
        Param("min_data_in_leaf", "integer", 20, "rows per leaf at least", minimum=1),
        Param("feature_fraction", "number", 0.8, "features sampled per tree", 0.0, 1.0, True),
        Param("bagging_fraction", "number", 0.8, "rows sampled per tree", 0.0, 1.0, True),
        Param(
            "target_transform",
            "string",
            "log",
            "fit log(sales) (relative errors, what MAPE measures) or raw sales",
            choices=("log", "none"),
        ),
        Param("horizon_weeks", "integer", 1, "weeks ahead forecast", minimum=1, maximum=52),
        Param("recent_lags", "integer", 4, "recent weekly lags used", minimum=1, maximum=26),
        Param("holdout_weeks", "integer", 10, "last weeks held out", minimum=1),
        Param(
            "split_date",
            "string",
            "",
            "train up to this date, validate from it (YYYY-MM-DD; empty: holdout_weeks)",
        ),
        Param(
            "validation_weeks",
            "integer",
            0,
            "last training weeks kept aside for early stopping (0: none, all rounds)",
            minimum=0,
        ),
        Param("early_stopping_rounds", "integer", 30, "rounds without gain before stopping", 1),
        Param("seed", "integer", 7, "random seed", minimum=0),
        Param("num_threads", "integer", 2, "LightGBM threads", minimum=1, maximum=256),
    )

    # -- prepare -------------------------------------------------------------------------------

    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Typed raw rows sorted by (store, date); lags are built from the model's history."""
        fields = [
            InputField(field.name, field.type, required=field.required and not scoring)
            if field.name == "weeklySales"
            else field
            for field in self.input_fields
        ]
        resolved = resolve_fields(table, fields)
        resolved = resolved.filter(pc.is_valid(resolved["date"]))
        if not scoring:
            resolved = resolved.filter(pc.is_valid(resolved["weeklySales"]))
        if resolved.num_rows == 0:
            raise RecipeDataError("no rows with a date" + ("" if scoring else " and weekly sales"))
        return resolved.sort_by([("store", "ascending"), ("date", "ascending")])

    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """Rows from `split_date` on are held out, or else the last `holdout_weeks` weeks."""
        if params["split_date"]:
            try:
                moment = datetime.fromisoformat(str(params["split_date"]))
            except ValueError as error:
                raise RecipeDataError(
                    f"split_date {params['split_date']!r} is not a date (YYYY-MM-DD)"
                ) from error
            cutoff = (moment.replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds() / 86_400
            before = day_numbers(features["date"]) < cutoff
            if before.all() or not before.any():
                raise RecipeDataError(
                    f"split_date {params['split_date']} leaves no training or no held-out weeks"
                )
            mask = pa.array(before)
            return Split(features.filter(mask), features.filter(pc.invert(mask)))
        weeks = _week_index(day_numbers(features["date"]))
        distinct = np.unique(weeks)
        holdout_weeks = int(params["holdout_weeks"])
        if len(distinct) <= holdout_weeks:
            raise RecipeDataError(
                f"{len(distinct)} weeks of data; need more than holdout_weeks={holdout_weeks}"
            )
        cut = distinct[-holdout_weeks]
        mask = pa.array(weeks < cut)
        return Split(features.filter(mask), features.filter(pc.invert(mask)))

    # -- features -> matrix --------------------------------------------------------------------

    def _feature_names(self, horizon: int, recent_lags: int) -> list[str]:
        lags = [f"salesLag{k}" for k in range(horizon, horizon + recent_lags)]
        seasonal = [f"salesLag{k}" for k in _SEASONAL_LAGS if k >= horizon]
        return [
            "store",
            "storeType",
            "storeSize",
            "temperature",
            "regionalFuelPrice",
            "markdown",
            "cpi",
            "unemployment",
            "isHoliday",
            "weekOfYear",
            "month",
            "dayOfYear",
            *lags,
            "salesLagMean",
            *seasonal,
        ]

    def _matrix(
        self,
        columns: Mapping[str, np.ndarray],
        history_keys: np.ndarray,
        history_sales: np.ndarray,
        horizon: int,
        recent_lags: int,
    ) -> np.ndarray:
        days = _as_days(np.asarray(columns["date"]))
        store = _as_float(np.asarray(columns["store"]))
        weeks = _week_index(days)
        keys = store.astype(np.int64) * _KEY_BASE + weeks
        sales = columns.get("weeklySales")
        if sales is not None:
            history_keys, history_sales = _merge_history(
                history_keys, history_sales, keys, _as_float(np.asarray(sales))
            )
        dates = (days * 86_400).astype("datetime64[s]").astype("datetime64[D]")
        day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.float64)
        month = (dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.float64)
        store_type = np.asarray(columns["storeType"])
        type_code = np.array(
            [_STORE_TYPES.index(v) if v in _STORE_TYPES else np.nan for v in store_type.tolist()],
            dtype=np.float64,
        )
        recent = [
            _lookup(history_keys, history_sales, keys - k)
            for k in range(horizon, horizon + recent_lags)
        ]
        seasonal = [
            _lookup(history_keys, history_sales, keys - k) for k in _SEASONAL_LAGS if k >= horizon
        ]
        stacked = np.vstack(recent)
        counts = np.sum(~np.isnan(stacked), axis=0)
        totals = np.nansum(stacked, axis=0)
        lag_mean = np.divide(totals, counts, out=np.full(len(counts), np.nan), where=counts > 0)
        return np.column_stack(
            [
                store,
                type_code,
                _as_float(np.asarray(columns["storeSize"])),
                _as_float(np.asarray(columns["temperature"])),
                _as_float(np.asarray(columns["regionalFuelPrice"])),
                _as_float(np.asarray(columns["markdown"])),
                _as_float(np.asarray(columns["cpi"])),
                _as_float(np.asarray(columns["unemployment"])),
                _as_float(np.asarray(columns["isHoliday"])),
                np.floor(day_of_year / 7.0),
                month,
                day_of_year,
                *recent,
                lag_mean,
                *seasonal,
            ]
        )

    def _columns(self, table: pa.Table) -> dict[str, np.ndarray]:
        columns = {
            name: table[name].to_numpy(zero_copy_only=False)
            for name in table.column_names
            if name != "date"
        }
        columns["date"] = table["date"].to_numpy(zero_copy_only=False)
        return columns

    def training_matrix(
        self, train: pa.Table, params: Params
    ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
        """(X, y, feature names, history keys, history sales) for the training rows.

        Shared with the scikit-learn baseline so both see exactly the same features.
        """
        horizon, recent_lags = int(params["horizon_weeks"]), int(params["recent_lags"])
        columns = self._columns(train)
        weeks = _week_index(day_numbers(train["date"]))
        keys = train["store"].to_numpy().astype(np.int64) * _KEY_BASE + weeks
        order = np.argsort(keys, kind="stable")
        sales = train["weeklySales"].to_numpy(zero_copy_only=False).astype(np.float64)
        history_keys, history_sales = keys[order], sales[order]
        matrix = self._matrix(columns, history_keys, history_sales, horizon, recent_lags)
        # Rows with no recent lag at all (each store's first weeks) teach nothing about lags.
        first_lag = matrix[:, self._feature_names(horizon, recent_lags).index(f"salesLag{horizon}")]
        usable = ~np.isnan(first_lag)
        names = self._feature_names(horizon, recent_lags)
        return matrix[usable], sales[usable], names, history_keys, history_sales

    def _row_weeks(self, train: pa.Table, params: Params) -> np.ndarray:
        """The week of each row of `training_matrix` (same filter, same order)."""
        horizon, recent_lags = int(params["horizon_weeks"]), int(params["recent_lags"])
        columns = self._columns(train)
        weeks = _week_index(day_numbers(train["date"]))
        keys = train["store"].to_numpy().astype(np.int64) * _KEY_BASE + weeks
        order = np.argsort(keys, kind="stable")
        sales = train["weeklySales"].to_numpy(zero_copy_only=False).astype(np.float64)
        matrix = self._matrix(columns, keys[order], sales[order], horizon, recent_lags)
        first_lag = matrix[:, self._feature_names(horizon, recent_lags).index(f"salesLag{horizon}")]
        return np.asarray(weeks[~np.isnan(first_lag)])

    def holdout_matrix(self, model: RetailModel, holdout: pa.Table) -> np.ndarray:
        """Features of held-out rows: history = training history + the holdout's own past weeks."""
        return self._matrix(
            self._columns(holdout),
            model.history_keys,
            model.history_sales,
            model.horizon,
            model.recent_lags,
        )

    # -- train / evaluate / score --------------------------------------------------------------

    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> RetailModel:
        """LightGBM on log sales (by default) with store and store type as categories."""
        matrix, sales, names, history_keys, history_sales = self.training_matrix(train, params)
        log_target = params["target_transform"] == "log"
        target = np.log(np.maximum(sales, 1.0)) if log_target else sales
        ctx.progress("train", 0, rows=len(target))
        rounds = int(params["n_estimators"])
        # The last `validation_weeks` training weeks, kept aside for early stopping.
        validation = np.zeros(len(target), dtype=bool)
        if int(params["validation_weeks"]) > 0:
            row_weeks = self._row_weeks(train, params)
            distinct = np.unique(row_weeks)
            if len(distinct) > int(params["validation_weeks"]):
                validation = row_weeks >= distinct[-int(params["validation_weeks"])]
        categorical = ["store", "storeType"]
        valid_sets = []
        callbacks = [lightgbm_callback(ctx, rounds, start=0, end=100)]
        if validation.any():
            valid_sets.append(
                lgb.Dataset(
                    matrix[validation],
                    target[validation],
                    feature_name=names,
                    categorical_feature=categorical,
                )
            )
            callbacks.append(
                lgb.early_stopping(int(params["early_stopping_rounds"]), verbose=False)
            )
        booster = lgb.train(
            {
                "objective": "regression",
                "learning_rate": params["learning_rate"],
                "num_leaves": params["num_leaves"],
                "max_depth": params["max_depth"],
                "min_data_in_leaf": params["min_data_in_leaf"],
                "feature_fraction": params["feature_fraction"],
                "bagging_fraction": params["bagging_fraction"],
                "bagging_freq": 1,
                "seed": params["seed"],
                "num_threads": params["num_threads"],
                "deterministic": True,
                "verbose": -1,
            },
            lgb.Dataset(
                matrix[~validation],
                target[~validation],
                feature_name=names,
                categorical_feature=categorical,
            ),
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["validation"] if valid_sets else None,
            callbacks=callbacks,
        )
        if valid_sets:
            ctx.log_metrics({"validation_best_iteration": float(booster.best_iteration)})
        horizon = int(params["horizon_weeks"])
        naive = _lookup(history_keys, history_sales, history_keys - horizon)
        known = ~np.isnan(naive)
        # MASE scale: in-sample MAE of the naive forecast "sales of `horizon` weeks before".
        scale = float(np.mean(np.abs(history_sales[known] - naive[known]))) if known.any() else 0.0
        recent_keys, recent_sales = _recent_history(
            history_keys, history_sales, horizon + int(params["recent_lags"])
        )
        return RetailModel(
            booster=booster,
            feature_names=names,
            history_keys=recent_keys,
            history_sales=recent_sales,
            horizon=horizon,
            recent_lags=int(params["recent_lags"]),
            log_target=log_target,
            mase_scale=scale,
        )

    def _predict_matrix(self, model: RetailModel, matrix: np.ndarray) -> np.ndarray:
        raw = np.asarray(model.booster.predict(matrix, num_threads=1))
        return np.exp(raw) if model.log_target else raw

    def evaluate(
        self, model: RetailModel, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """MAPE, MAE, RMSE and MASE of the held-out weeks."""
        predicted = self._predict_matrix(model, self.holdout_matrix(model, holdout))
        actual = holdout["weeklySales"].to_numpy(zero_copy_only=False).astype(np.float64)
        metrics = regression_metrics(actual, predicted, mase_scale=model.mase_scale)
        self._remember_actuals(model, holdout)
        return metrics

    def _remember_actuals(self, model: RetailModel, rows: pa.Table) -> None:
        """Add the held-out weeks' actual sales to the model's history once they are evaluated.

        A forecaster knows the sales up to today: without them, a published model asked about the
        week after the data would find no recent lags and forecast from store attributes alone.
        """
        columns = self._columns(rows)
        weeks = _week_index(_as_days(np.asarray(columns["date"])))
        keys = _as_float(np.asarray(columns["store"])).astype(np.int64) * _KEY_BASE + weeks
        merged_keys, merged_sales = _merge_history(
            model.history_keys,
            model.history_sales,
            keys,
            _as_float(np.asarray(columns["weeklySales"])),
        )
        model.history_keys, model.history_sales = _recent_history(
            merged_keys, merged_sales, model.horizon + model.recent_lags
        )

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """scikit-learn GradientBoostingRegressor(learning_rate=0.1, n_estimators=100,
        max_depth=3) (DSW's retail recipe) on the same split and features.

        It cannot take missing values, so missing lags are filled with training means.
        """
        from sklearn.ensemble import GradientBoostingRegressor

        matrix, sales, _, history_keys, history_sales = self.training_matrix(train, params)
        means = np.nanmean(np.where(np.isnan(matrix), np.nan, matrix), axis=0)
        means = np.where(np.isnan(means), 0.0, means)
        regressor = GradientBoostingRegressor(
            learning_rate=0.1, n_estimators=100, max_depth=3, random_state=1234
        )
        regressor.fit(np.where(np.isnan(matrix), means, matrix), sales)
        horizon = int(params["horizon_weeks"])
        test = self._matrix(
            self._columns(holdout),
            history_keys,
            history_sales,
            horizon,
            int(params["recent_lags"]),
        )
        predicted = regressor.predict(np.where(np.isnan(test), means, test))
        naive = _lookup(history_keys, history_sales, history_keys - horizon)
        known = ~np.isnan(naive)
        scale = float(np.mean(np.abs(history_sales[known] - naive[known])))
        actual = holdout["weeklySales"].to_numpy(zero_copy_only=False).astype(np.float64)
        return regression_metrics(actual, predicted, mase_scale=scale)

    def score(
        self, model: RetailModel, features: pa.Table, params: Params, ctx: RunContext
    ) -> pa.Table:
        """`date`, `store`, `prediction` (forecast weekly sales) per row."""
        predicted = self._predict_matrix(model, self.holdout_matrix(model, features))
        return pa.table(
            {
                "date": features["date"],
                "store": features["store"],
                "prediction": pa.array(predicted, pa.float64()),
            }
        )

    # -- persistence and serving ---------------------------------------------------------------

    def booster(self, model: RetailModel) -> lgb.Booster:
        """The LightGBM booster."""
        return model.booster

    def save_model_state(self, model: RetailModel, directory: Path) -> None:
        """Booster text file + JSON state (history, horizon, transform, MASE scale)."""
        save_booster(
            model.booster,
            directory,
            {
                "feature_names": model.feature_names,
                "history_keys": model.history_keys.tolist(),
                "history_sales": model.history_sales.tolist(),
                "horizon": model.horizon,
                "recent_lags": model.recent_lags,
                "log_target": model.log_target,
                "mase_scale": model.mase_scale,
            },
        )

    def load_model_state(self, directory: Path) -> RetailModel:
        """Rebuild what `save_model_state` wrote."""
        booster, state = load_booster(directory)
        return RetailModel(
            booster=booster,
            feature_names=list(state["feature_names"]),
            history_keys=np.asarray(state["history_keys"], dtype=np.int64),
            history_sales=np.asarray(state["history_sales"], dtype=np.float64),
            horizon=int(state["horizon"]),
            recent_lags=int(state["recent_lags"]),
            log_target=bool(state["log_target"]),
            mase_scale=float(state["mase_scale"]),
        )

    def model_inputs(self, model: RetailModel) -> tuple[InputField, ...]:
        """The raw fields; `weeklySales` is optional (it only extends the sales history)."""
        return tuple(
            InputField(field.name, field.type, required=False, description=field.description)
            if field.name == "weeklySales"
            else field
            for field in self.input_fields
        )

    def fast_path(self, model: RetailModel) -> FastPath:
        """Booster + builder of the feature matrix from raw columns (lags from stored history)."""

        def build(columns: Mapping[str, np.ndarray]) -> np.ndarray:
            return self._matrix(
                columns, model.history_keys, model.history_sales, model.horizon, model.recent_lags
            )

        return FastPath(
            booster=model.booster,
            feature_names=tuple(model.feature_names),
            inputs=self.model_inputs(model),
            build_features=build,
            postprocess=np.exp if model.log_target else _identity,
        )


def _identity(values: np.ndarray) -> np.ndarray:
    return values
