"""Product purchase prediction on generated ExperienceEvents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dsw_recipe import LocalRunResult, RunContext, load_model, model_inputs, run_local
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
            "commerce.order.priceTotal": [None, None, 30.0, 30.0, None, 5.0],
        }
    )
    recipe = PurchasePredictionRecipe()
    params = recipe.validate_params({"cutoff": "2024-01-10T00:00:00+00:00", "horizon_days": 7})
    features = recipe.prepare(events, params, RunContext())
    rows = {row["profileId"]: row for row in features.to_pylist()}
    assert rows["a"]["product_views"] == 1
    assert rows["a"]["cart_adds"] == 1
    assert rows["a"]["purchases"] == 2  # two order lines
    assert rows["a"]["orders"] == 1
    assert rows["a"]["monetary"] == 30.0
    assert rows["a"]["days_since_last_purchase"] == pytest.approx(4 + 14 / 24)
    assert rows["a"]["tenure_days"] == pytest.approx(8 + 14 / 24)
    assert rows["a"]["label"] == 1  # bought on the 12th, inside the 7-day window
    assert rows["b"]["label"] == 0
    assert rows["b"]["days_since_last_purchase"] == 365.0


def test_lightgbm_against_logistic_regression(purchase_run: LocalRunResult) -> None:
    metrics, baseline = purchase_run.metrics, purchase_run.baseline_metrics
    assert baseline is not None
    print(f"\npurchase holdout: LightGBM {metrics}\nlogistic regression {baseline}")
    assert set(baseline) == {"auc", "log_loss", "precision", "recall", "f1", "accuracy"}
    assert metrics["auc"] > 0.75
    # The generated behaviour is close to log-linear, so the logistic baseline is strong: the
    # booster must match it, not necessarily beat it.
    assert metrics["auc"] > baseline["auc"] - 0.02
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
