"""Micro-batching gathers concurrent single-record requests into one booster call and splits
the answers back: the same numbers as unbatched; a failing batch fails only its bad rows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dsw_recipe import run_local
from dsw_recipe.datasets import retail_training_path

from dsw_serving.predict.batching import MICROBATCH_SIZE, BatchingPolicy, MicroBatcher
from dsw_serving.predict.inputs import rows_of, to_arrays
from dsw_serving.predict.models import Predictor, load_predictor

from .helpers import retail_records

LABELS = ("org-a", "prod", "unit", "1")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    folder: Path = tmp_path_factory.mktemp("batching")
    run_local(
        "retail-sales",
        retail_training_path(),
        {"n_estimators": 5, "num_threads": 1},
        output_dir=folder / "run",
        baseline=False,
        score_holdout=False,
    )
    return load_predictor(str(folder / "run" / "model"), "")


def _arrays(predictor: Predictor, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    columns, count, form = rows_of({"records": records}, 100)
    return to_arrays(columns, count, predictor.fields, form)


def _records(count: int) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_actual"} for row in retail_records(count)]


def _batches_observed() -> tuple[float, float]:
    """(batches, requests) the unit batcher's histogram has seen so far."""
    samples = {
        sample.name: sample.value
        for metric in MICROBATCH_SIZE.collect()
        for sample in metric.samples
        if tuple(sample.labels.get(k) for k in ("org", "sandbox", "service", "revision")) == LABELS
    }
    return samples.get("dsw_serving_microbatch_requests_count", 0.0), samples.get(
        "dsw_serving_microbatch_requests_sum", 0.0
    )


def test_a_full_batch_is_one_call_with_the_unbatched_answers(predictor: Predictor) -> None:
    records = _records(6)
    calls: list[int] = []

    def counted(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        calls.append(len(next(iter(columns.values()))))
        return predictor.predict(columns)

    # max_rows is the number of requests and the wait long: the batch goes out when full.
    batcher = MicroBatcher(counted, BatchingPolicy(max_rows=6, max_wait_seconds=60.0), LABELS)
    before = _batches_observed()

    async def all_at_once() -> list[tuple[np.ndarray, np.ndarray | None]]:
        return await asyncio.gather(
            *(batcher.submit(_arrays(predictor, [record])) for record in records)
        )

    answers = asyncio.run(all_at_once())
    assert calls == [6]
    for record, (prediction, probabilities) in zip(records, answers, strict=True):
        alone, _ = predictor.predict(_arrays(predictor, [record]))
        assert prediction.shape == (1,)
        assert prediction.tolist() == alone.tolist()
        assert probabilities is None
    after = _batches_observed()
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 6.0)


def test_a_partial_batch_goes_when_its_wait_is_over(predictor: Predictor) -> None:
    records = _records(3)
    batcher = MicroBatcher(
        predictor.predict, BatchingPolicy(max_rows=50, max_wait_seconds=0.01), LABELS
    )

    async def some() -> list[tuple[np.ndarray, np.ndarray | None]]:
        return await asyncio.gather(
            *(batcher.submit(_arrays(predictor, [record])) for record in records)
        )

    answers = asyncio.run(some())
    expected, _ = predictor.predict(_arrays(predictor, records))
    assert [float(prediction[0]) for prediction, _ in answers] == expected.tolist()


def test_a_failing_batch_fails_only_the_requests_whose_row_fails(predictor: Predictor) -> None:
    records = _records(4)
    poisoned_store = records[2]["store"]

    def fragile(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        # A row the booster cannot take (say, a value its feature builder rejects).
        if poisoned_store in columns["store"].tolist():
            raise ValueError("cannot build features for this store")
        return predictor.predict(columns)

    assert len({record["store"] for record in records}) == 4  # only record 2 is poisoned
    batcher = MicroBatcher(fragile, BatchingPolicy(max_rows=4, max_wait_seconds=60.0), LABELS)

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(batcher.submit(_arrays(predictor, [record])) for record in records),
            return_exceptions=True,
        )

    answers = asyncio.run(all_at_once())
    assert isinstance(answers[2], ValueError)
    for index in (0, 1, 3):
        alone, _ = predictor.predict(_arrays(predictor, [records[index]]))
        assert answers[index][0].tolist() == alone.tolist()
