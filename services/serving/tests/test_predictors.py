"""What a loaded classifier answers: labels at its own threshold, and the probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dsw_recipe import RunContext, run_local
from dsw_recipe.generators import generate_events

from dsw_serving.predict.inputs import rows_of, to_arrays
from dsw_serving.predict.models import load_predictor


def test_a_classifier_answers_labels_at_its_threshold_and_probabilities(tmp_path: Path) -> None:
    run_local(
        "product-purchase-prediction",
        generate_events(profiles=300, days=60, seed=3),
        {"n_estimators": 20, "num_threads": 1, "threshold": 0.3, "min_data_in_leaf": 5},
        output_dir=tmp_path / "run",
        baseline=False,
        score_holdout=False,
    )
    predictor = load_predictor(str(tmp_path / "run" / "model"), "")
    assert predictor.is_classifier
    loaded = predictor.loaded
    features = loaded.recipe.prepare(
        generate_events(profiles=40, days=60, seed=4), loaded.params, RunContext(), scoring=True
    )
    names = [field.name for field in predictor.fields]
    rows = zip(*(features[name].to_pylist() for name in names), strict=True)
    records = [dict(zip(names, row, strict=True)) for row in rows]
    columns, count, form = rows_of({"records": records}, 100)
    labels, probabilities = predictor.predict(to_arrays(columns, count, predictor.fields, form))
    # The same probabilities and labels as the recipe's own scoring of the same profiles.
    scored = loaded.recipe.score(loaded.model, features, loaded.params, RunContext())
    assert probabilities is not None
    np.testing.assert_allclose(probabilities, scored["probability"].to_numpy(), rtol=1e-9)
    assert labels.tolist() == scored["prediction"].to_pylist()
    # Labels follow the model's 0.3 threshold, not 0.5.
    assert ((probabilities >= 0.3) == (labels == 1)).all()
    assert ((probabilities >= 0.3) & (probabilities < 0.5)).any()
