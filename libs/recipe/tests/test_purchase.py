"""Product purchase prediction on generated ExperienceEvents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dsw_recipe import (
    LocalRunResult,
    RecipeDataError,
    RunContext,
    load_model,
    model_inputs,
    read_table,
    run_local,
)
from dsw_recipe.datasets import online_retail_sample_path
from dsw_recipe.generators import (
    EVENT_TYPES,
    PROFILE_FIELD,
    events_to_interactions,
    generate_events,
)
from dsw_recipe.recipes import PurchasePredictionRecipe
from dsw_recipe.recipes.purchase import FEATURES


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate_events(2500, 100, seed=11)


@pytest.fixture(scope="module")
def purchase_run(
    events: pa.Table, tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> LocalRunResult:
    return run_local(
        PurchasePredictionRecipe,
        events,
        tracking_uri=tracking_uri,
        experiment_name="purchase-tests",
        output_dir=tmp_path_factory.mktemp("purchase-model"),
    )


def test_generator_is_seeded_and_realistic(events: pa.Table) -> None:
    again = generate_events(50, 30, seed=3)
    assert again.equals(generate_events(50, 30, seed=3))
    assert not again.equals(generate_events(50, 30, seed=4))
    tallies = pc.value_counts(events["eventType"])
    counts = dict(zip(tallies.field(0).to_pylist(), tallies.field(1).to_pylist(), strict=True))
    assert set(counts) == set(EVENT_TYPES)
    # Funnel: views > cart adds > purchases, removals fewer than adds.
    assert counts["commerce.productViews"] > 4 * counts["commerce.productListAdds"]
    assert counts["commerce.productListAdds"] > counts["commerce.purchases"]
    assert counts["commerce.productListRemovals"] < counts["commerce.productListAdds"]
    times = events["timestamp"]
    assert pc.min(times).as_py() >= datetime(2024, 1, 1, tzinfo=UTC)
    assert pc.all(pc.greater_equal(times[1:], times[:-1])).as_py()
    interactions = events_to_interactions(events)
    assert interactions.column_names == ["userId", "itemId", "interactionType", "timestamp"]
    assert set(pc.unique(interactions["interactionType"]).to_pylist()) == {
        "view",
        "cartAdd",
        "cartRemove",
        "purchase",
    }


def test_features_per_profile() -> None:
    events = pa.table(
        {
            PROFILE_FIELD: ["a", "a", "a", "a", "b", "a"],
            "timestamp": [
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:01:00Z",
                "2024-01-05T10:00:00Z",
                "2024-01-05T10:00:00Z",
                "2024-01-09T00:00:00Z",
                "2024-01-12T00:00:00Z",
            ],
            "eventType": [
                "commerce.productViews",
                "commerce.productListAdds",
                "commerce.purchases",
                "commerce.purchases",
                "commerce.productViews",
                "commerce.purchases",
            ],
            "productListItems.SKU": [None, None, "x", "y", None, "x"],
            "commerce.order.priceTotal": [None, None, 30.0, 30.0, None, 5.0],
        }
    )
    recipe = PurchasePredictionRecipe()
    params = recipe.validate_params({"cutoff": "2024-01-10T00:00:00+00:00", "horizon_days": 7})
    features = recipe.prepare(events, params, RunContext(), scoring=True)
    rows = {row["profileId"]: row for row in features.to_pylist()}
    assert rows["a"]["product_views_30d"] == 1
    assert rows["a"]["cart_adds_30d"] == 1
    assert rows["a"]["lines_per_order"] == 2  # two order lines
    assert rows["a"]["orders"] == 1
    assert rows["a"]["distinct_products"] == 2
    assert rows["a"]["monetary"] == 30.0
    assert rows["a"]["days_since_last_purchase"] == pytest.approx(4 + 14 / 24)
    assert rows["a"]["tenure_days"] == pytest.approx(8 + 14 / 24)
    assert rows["b"]["days_since_last_purchase"] == 365.0
    # Training: the cutoff is the held-out snapshot; its label is a purchase in the horizon.
    trained = recipe.prepare(events, params, RunContext())
    last = {
        row["profileId"]: row
        for row in trained.to_pylist()
        if row["cutoff_day"] == max(trained["cutoff_day"].to_pylist())
    }
    assert last["a"]["label"] == 1  # bought on the 12th, inside the 7-day window
    assert last["b"]["label"] == 0


def test_transactions_table_returns_and_baskets() -> None:
    """A flat transactions table: every row an order line, negative quantities returns."""
    rows = pa.table(
        {
            PROFILE_FIELD: ["a", "a", "a", "a", "b"],
            "timestamp": [
                "2024-01-01 10:00:00",
                "2024-01-01 10:00:00",
                "2024-01-03 09:00:00",
                "2024-01-06 12:00:00",
                "2024-01-02 08:00:00",
            ],
            "commerce.order.purchaseID": ["1", "1", "C2", "3", "4"],
            "productListItems.SKU": ["x", "y", "x", "z", "x"],
            "productListItems.quantity": [2.0, 1.0, -1.0, 4.0, 1.0],
            "unitPrice": [5.0, 10.0, 5.0, 2.5, 5.0],
        }
    )
    recipe = PurchasePredictionRecipe()
    params = recipe.validate_params({"cutoff": "2024-01-10", "horizon_days": 7})
    features = recipe.prepare(rows, params, RunContext(), scoring=True)
    a = {row["profileId"]: row for row in features.to_pylist()}["a"]
    assert a["orders"] == 2  # the cancellation is a return, not an order
    assert a["monetary"] == 2 * 5.0 + 10.0 + 4 * 2.5
    assert a["lines_per_order"] == 1.5
    assert a["units_per_order"] == 3.5
    assert a["distinct_products"] == 3
    assert a["returns"] == 1
    assert a["return_value_share"] == pytest.approx(5.0 / 30.0)
    assert a["days_since_last_return"] == pytest.approx(7 - 9 / 24)  # Jan 3 09:00 -> Jan 10
    assert a["mean_days_between_orders"] == pytest.approx(5 + 2 / 24)
    with pytest.raises(RecipeDataError, match="cutoff 'soon'"):
        recipe.prepare(rows, {**params, "cutoff": "soon"}, RunContext())


def test_lightgbm_against_logistic_regression(purchase_run: LocalRunResult) -> None:
    metrics, baseline = purchase_run.metrics, purchase_run.baseline_metrics
    assert baseline is not None
    print(f"\npurchase holdout: LightGBM {metrics}\nlogistic regression {baseline}")
    assert set(baseline) == {
        "auc",
        "lift_top_decile",
        "log_loss",
        "precision",
        "recall",
        "f1",
        "accuracy",
    }
    assert metrics["auc"] > 0.72
    # The baseline sees recency, frequency and monetary value only; the recipe also sees the
    # funnel (views, cart adds, open carts) the generator's visitors follow.
    assert metrics["auc"] > baseline["auc"]
    assert 0.05 < metrics["positive_rate"] < 0.5


def test_saved_as_plain_lightgbm_model(purchase_run: LocalRunResult, events: pa.Table) -> None:
    assert purchase_run.model_path is not None
    mlmodel = (purchase_run.model_path / "MLmodel").read_text()
    assert "lightgbm:" in mlmodel
    assert "python_function:" in mlmodel
    assert [field.name for field in model_inputs(purchase_run.model_path)] == list(FEATURES)

    loaded = load_model(purchase_run.model_path)
    scored = loaded.score(events)  # raw events -> aggregates -> probabilities
    assert scored.column_names == ["profileId", "probability", "prediction"]
    assert pc.min(scored["probability"]).as_py() >= 0

    features = PurchasePredictionRecipe().prepare(events, loaded.params, RunContext(), scoring=True)
    fast = loaded.fast_path
    assert fast is not None
    columns = {name: features[name].to_numpy() for name in FEATURES}
    np.testing.assert_allclose(fast.predict(columns), scored["probability"].to_numpy())


def test_mlflow_pyfunc_loads_the_lightgbm_flavour(purchase_run: LocalRunResult) -> None:
    import mlflow.pyfunc

    assert purchase_run.model_path is not None
    assert purchase_run.predictions is not None
    features = pa.table({name: [1.0, 0.0] for name in FEATURES}).to_pandas()
    predicted = mlflow.pyfunc.load_model(str(purchase_run.model_path)).predict(features)
    direct = load_model(purchase_run.model_path).booster
    assert direct is not None
    np.testing.assert_allclose(
        np.asarray(predicted), direct.predict(features.to_numpy(dtype=np.float64))
    )


def test_dataset_input_with_a_pushed_down_time_window(events: pa.Table, tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from dsw_recipe import TimeWindow

    pq.write_table(events, tmp_path / "events.parquet", row_group_size=20_000)
    recipe = PurchasePredictionRecipe()
    params = recipe.validate_params({"cutoff": "2024-03-01T00:00:00"})
    window = TimeWindow(start=datetime(2024, 2, 1), end=datetime(2024, 3, 15))
    from_files = recipe.prepare(
        ds.dataset(tmp_path / "events.parquet"), params, RunContext(), window=window
    )
    from_table = recipe.prepare(events, params, RunContext(), window=window)
    assert from_files.equals(from_table)
    everything = recipe.prepare(events, params, RunContext())
    assert from_files.num_rows < everything.num_rows


def test_online_retail_transactions() -> None:
    """Real transactions (600 customers): customers known on 2011-10-01, buying in October.
    The full data's comparison with the RFM baseline is bench/bench_recipes.py's job."""
    table = read_table(online_retail_sample_path())
    names = {
        "CustomerID": PROFILE_FIELD,
        "InvoiceDate": "timestamp",
        "InvoiceNo": "commerce.order.purchaseID",
        "StockCode": "productListItems.SKU",
        "Quantity": "productListItems.quantity",
        "UnitPrice": "unitPrice",
    }
    table = table.rename_columns([names.get(name, name) for name in table.column_names])
    result = run_local(
        PurchasePredictionRecipe, table, {"cutoff": "2011-10-01"}, score_holdout=False
    )
    baseline = result.baseline_metrics
    assert baseline is not None
    print(f"\nonline retail sample: LightGBM {result.metrics}\nRFM logistic {baseline}")
    assert result.metrics["auc"] > 0.65
    assert result.metrics["lift_top_decile"] > 1.8
    assert 0.1 < result.metrics["positive_rate"] < 0.5
    assert result.model.best_iteration >= 1  # early stopping on the validation people
