"""The retail sales recipe on the DSW retail sample (45 stores x 115 weeks, last 10 held out)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dsw_recipe import (
    LocalRunResult,
    RecipeDataError,
    RunContext,
    TimeWindow,
    load_model,
    model_inputs,
    parse_time,
    run_local,
)
from dsw_recipe.datasets import load_retail
from dsw_recipe.recipes import RetailSalesRecipe


def test_lightgbm_beats_the_dsw_gradient_boosting_baseline(retail_run: LocalRunResult) -> None:
    metrics, baseline = retail_run.metrics, retail_run.baseline_metrics
    assert baseline is not None
    print(f"\nretail holdout MAPE: LightGBM {metrics['mape']:.4f} vs GBR {baseline['mape']:.4f}")
    print(f"retail metrics: {metrics}\nretail baseline: {baseline}")
    assert metrics["mape"] < baseline["mape"]
    assert set(metrics) == {"mape", "mae", "rmse", "mase"}
    # A one-week-ahead forecast must beat "same as last week" (MASE < 1) and be within 10 %.
    assert metrics["mase"] < 1
    assert metrics["mape"] < 0.10


def test_split_holds_out_the_last_ten_weeks(retail_run: LocalRunResult) -> None:
    assert retail_run.rows == {"prepared": 5175, "train": 4725, "holdout": 450}
    predictions = retail_run.predictions
    assert predictions is not None
    assert predictions.column_names == ["date", "store", "prediction"]
    assert pc.min(predictions["date"]).as_py() == datetime(2012, 2, 10)


def test_run_is_logged_to_mlflow(retail_run: LocalRunResult, tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    assert retail_run.run_id is not None
    run = MlflowClient(tracking_uri).get_run(retail_run.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["learning_rate"] == "0.05"
    assert run.data.metrics["mape"] == pytest.approx(retail_run.metrics["mape"])
    assert run.data.metrics["baseline_mape"] == pytest.approx(retail_run.baseline_metrics["mape"])  # type: ignore[index]
    assert run.data.tags["dsw.recipe"] == "retail-sales"
    stages = [event.stage for event in retail_run.progress]
    assert stages[0] == "prepare"
    assert "train" in stages
    assert stages[-1] == "done"


def test_saved_model_loads_the_same_way_and_fast_path_agrees(
    retail_run: LocalRunResult, model_dir: Path, tracking_uri: str
) -> None:
    inputs = model_inputs(model_dir)
    assert [field.name for field in inputs][:3] == ["date", "store", "storeType"]
    assert inputs[-1].name == "weeklySales"
    assert not inputs[-1].required

    loaded = load_model(model_dir)
    holdout = (
        RetailSalesRecipe()
        .split(
            RetailSalesRecipe().prepare(load_retail(), loaded.params, RunContext()),
            loaded.params,
            RunContext(),
        )
        .holdout
    )
    scored = loaded.score(holdout)
    assert retail_run.predictions is not None
    np.testing.assert_allclose(
        scored["prediction"].to_numpy(), retail_run.predictions["prediction"].to_numpy()
    )

    # Serving's path: NumPy columns in, booster called directly, no pandas.
    fast = loaded.fast_path
    assert fast is not None
    assert fast.feature_names == tuple(fast.booster.feature_name())
    columns = {name: holdout[name].to_numpy(zero_copy_only=False) for name in holdout.column_names}
    np.testing.assert_allclose(fast.predict(columns), scored["prediction"].to_numpy())

    # The same model from the MLflow run, by URI.
    assert retail_run.model_uri is not None
    by_uri = load_model(retail_run.model_uri, tracking_uri=tracking_uri)
    assert by_uri.input_names == loaded.input_names


def test_mlflow_pyfunc_serves_the_model(model_dir: Path) -> None:
    import mlflow.pyfunc

    request = pa.table(
        {
            # The first held-out week: the model's history (training weeks) has its lags.
            "date": ["2012-02-10"],
            "store": [1],
            "storeType": ["A"],
            "storeSize": [151315],
            "temperature": [60.0],
            "regionalFuelPrice": [3.8],
            "markdown": [0.0],
            "cpi": [221.0],
            "unemployment": [7.1],
            "isHoliday": [False],
            "weeklySales": [None],
        }
    ).to_pandas()
    request["weeklySales"] = request["weeklySales"].astype("float64")
    request["date"] = request["date"].astype("datetime64[us]")
    prediction = mlflow.pyfunc.load_model(str(model_dir)).predict(request)
    assert list(prediction.columns) == ["date", "store", "prediction"]
    # Store 1 sells about 1.5-1.7 M a week; the history in the model supplies the lags.
    assert 1.2e6 < prediction["prediction"][0] < 2.2e6


def test_the_week_after_the_data_is_forecast_from_the_latest_actuals(model_dir: Path) -> None:
    # What a published service is asked: next week, raw fields only. The held-out weeks' actual
    # sales are in the saved history, so the lags are there and the forecast is close to the
    # store's level rather than a guess from store attributes alone.
    data = load_retail()
    days = parse_time(data["date"].combine_chunks())
    last_week = data.filter(pc.equal(days, pc.max(days)))
    loaded = load_model(model_dir)
    by_lower_name = {name.lower(): name for name in data.column_names}
    request = {
        name: last_week[by_lower_name[name.lower()]].to_numpy(zero_copy_only=False)
        for name in loaded.input_names
        if name != "weeklySales"
    }
    next_week = pc.max(days).as_py() + timedelta(days=7)
    request["date"] = np.full(len(last_week), np.datetime64(next_week, "us"))
    fast = loaded.fast_path
    assert fast is not None
    forecast = fast.predict(request)
    actual = last_week["weeklySales"].to_numpy(zero_copy_only=False)
    relative_error = np.abs(forecast - actual) / actual
    assert np.median(relative_error) < 0.15


def test_time_window_and_params_flow_through(tmp_path: Path) -> None:
    # Only 2011 onwards, a 2-week horizon, few rounds: trains, and the window is respected.
    result = run_local(
        RetailSalesRecipe,
        load_retail(),
        {"n_estimators": 20, "horizon_weeks": 2, "holdout_weeks": 4},
        window=TimeWindow(start=datetime(2011, 1, 1)),
        baseline=False,
    )
    assert result.rows["prepared"] == 45 * 67
    assert result.rows["holdout"] == 45 * 4
    assert result.model_uri is None
    assert result.run_id is None
    assert "salesLag1" not in result.model.feature_names
    assert "salesLag2" in result.model.feature_names


def test_split_on_a_date_and_early_stopping_on_validation_weeks() -> None:
    recipe = RetailSalesRecipe()
    params = recipe.validate_params({"split_date": "2012-01-06", "validation_weeks": 8})
    features = recipe.prepare(load_retail(), params, RunContext())
    train, holdout = recipe.split(features, params, RunContext())
    assert pc.max(train["date"]).as_py() < datetime(2012, 1, 6) <= pc.min(holdout["date"]).as_py()
    assert holdout.num_rows == 45 * 15  # 2012-01-06 .. 2012-04-13
    context = RunContext()
    model = recipe.train(train, {**params, "n_estimators": 2000}, context)
    # Early stopping on the last 8 training weeks: far fewer rounds than the 2,000 allowed.
    assert 1 <= context.metrics["validation_best_iteration"] < 2000
    assert model.booster.current_iteration() < 2000
    with pytest.raises(RecipeDataError, match="split_date"):
        recipe.split(features, {**params, "split_date": "2030-01-01"}, RunContext())
