"""Loaded models are cached per process; least recently used evicted past the memory budget."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from dsw_recipe import run_local
from dsw_recipe.datasets import retail_training_path

from dsw_serving.predict.inputs import rows_of, to_arrays
from dsw_serving.predict.models import ModelCache

from .helpers import retail_records


def test_least_recently_used_model_is_evicted_past_the_budget(tmp_path: Path) -> None:
    run_local(
        "retail-sales",
        retail_training_path(),
        {"n_estimators": 5, "num_threads": 1},
        output_dir=tmp_path / "run",
        baseline=False,
        score_holdout=False,
    )
    uris = []
    for name in ("a", "b", "c"):
        shutil.copytree(tmp_path / "run" / "model", tmp_path / name)
        uris.append(str(tmp_path / name))
    probe = ModelCache(1 << 40, "")
    size = probe.load(uris[0]).size_bytes
    cache = ModelCache(2 * size, "")
    first = cache.load(uris[0])
    cache.load(uris[1])
    assert cache.get(uris[0]) is first  # a is now the most recently used
    cache.load(uris[2])
    assert cache.get(uris[1]) is None
    assert cache.get(uris[0]) is first
    assert cache.stats() == {"models": 2, "bytes": 2 * size, "evictions": 1}
    # What the cache hands out predicts.
    record = {k: v for k, v in retail_records(1)[0].items() if k != "_actual"}
    columns, count, form = rows_of({"records": [record]}, 10)
    predictions, probabilities = first.predict(to_arrays(columns, count, first.fields, form))
    assert probabilities is None
    assert predictions.shape == (1,)
    assert np.isfinite(predictions).all()
