"""Loaded models: a revision's predictor and the per-process cache under a memory budget."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from dsw_recipe import FastPath, LoadedModel, RunContext, load_model

from dsw_serving.predict.inputs import FieldSpec

logger = logging.getLogger("dsw.serving.models")

# A loaded booster takes a few times its text file in memory; a rough, safe estimate.
_MEMORY_PER_FILE_BYTE = 3
# Items per group when neither the request nor the model's own ``k`` parameter says.
DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class Ranking:
    """A ranking model's answer: every recommended item's score, and the top k per group.

    ``groups`` holds one entry per group key (e.g. ``userId``) in the order the request named
    them: the key values, ``items`` best first and their ``scores``. ``scores`` is the same
    numbers flattened, group after group (what ``predictions`` carries).
    """

    scores: np.ndarray
    groups: list[dict[str, Any]]


@dataclass
class Predictor:
    """One model, ready to answer: the booster fast path, or the recipe's own scoring."""

    model_uri: str
    task_type: str
    fields: tuple[FieldSpec, ...]
    loaded: LoadedModel
    fast_path: FastPath | None
    size_bytes: int

    @property
    def is_classifier(self) -> bool:
        return self.task_type == "classification"

    @property
    def is_ranking(self) -> bool:
        return self.task_type == "ranking"

    @property
    def default_k(self) -> int:
        """Items per group unless the request says: the model's own ``k`` parameter."""
        k = self.loaded.params.get("k")
        return k if isinstance(k, int) and not isinstance(k, bool) and k > 0 else DEFAULT_TOP_K

    def predict(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None) for input columns."""
        if self.fast_path is None:
            return self._score(columns), None
        raw = self.fast_path.predict(columns)
        if not self.is_classifier:
            return raw, None
        if raw.ndim == 2:
            return np.argmax(raw, axis=1), raw
        return (raw >= self._threshold()).astype(np.int64), raw

    def _threshold(self) -> float:
        # A binary classifier's label follows the threshold it was trained and scored with.
        threshold = self.loaded.params.get("threshold", 0.5)
        return float(threshold) if isinstance(threshold, int | float) else 0.5

    def rank(self, columns: dict[str, np.ndarray], k: int) -> Ranking:
        """The top ``k`` items per group of a ranking model (slow path: the recipe's scoring)."""
        recipe = self.loaded.recipe
        params = {**self.loaded.params, "k": k, "output_format": "long"}
        context = RunContext()
        features = recipe.prepare(_table(columns, self.fields), params, context, scoring=True)
        scored = recipe.score(self.loaded.model, features, params, context)
        keys = [name for name in recipe.key_columns if name in scored.column_names]
        item = next((name for name in recipe.target_features if name in scored.column_names), None)
        if not keys or item is None or "score" not in scored.column_names:
            raise RuntimeError(f"{self.model_uri}: the ranking output has no keys, item or score")
        return _group(scored, keys, item, columns)

    def _score(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        # Recipes without a booster fast path (ranking) score through their own pipeline.
        scored = self.loaded.score(_table(columns, self.fields))
        for name in ("prediction", "score"):
            if name in scored.column_names:
                return np.asarray(scored[name].to_numpy(zero_copy_only=False))
        return np.asarray(scored.column(scored.num_columns - 1).to_numpy(zero_copy_only=False))


_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.timestamp("us"),
    "date-time": pa.timestamp("us"),
}


def _table(columns: dict[str, np.ndarray], fields: tuple[FieldSpec, ...]) -> pa.Table:
    """The input columns as the recipe reads a dataset: typed, nulls (NaN, NaT) as nulls.

    Typed from the model's inputs: an optional field sent as null everywhere would otherwise
    be an Arrow column of type null, which a recipe cannot read as a time or a number.
    """
    kinds = {field.name: field.kind for field in fields}
    return pa.table(
        {
            name: pa.array(values, type=_ARROW_TYPES.get(kinds.get(name, "")), from_pandas=True)
            for name, values in columns.items()
        }
    )


def _group(scored: pa.Table, keys: list[str], item: str, columns: dict[str, np.ndarray]) -> Ranking:
    """Ranked rows (best first within each group) as one entry per group.

    Groups appear in the order the request first named them; a group the model found nothing
    for (e.g. every candidate excluded) is still listed, with no items.
    """
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    if all(key in columns for key in keys):
        for values in zip(*(columns[key].tolist() for key in keys), strict=True):
            if values not in groups and None not in values:
                groups[values] = _empty_group(keys, values)
    key_values = [scored[key].to_pylist() for key in keys]
    items = scored[item].to_pylist()
    scores = scored["score"].to_pylist()
    for row, (name, score) in enumerate(zip(items, scores, strict=True)):
        values = tuple(column[row] for column in key_values)
        group = groups.get(values)
        if group is None:
            group = groups[values] = _empty_group(keys, values)
        group["items"].append(name)
        group["scores"].append(score)
    flat = [score for group in groups.values() for score in group["scores"]]
    return Ranking(np.asarray(flat, dtype=np.float64), list(groups.values()))


def _empty_group(keys: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    return {**dict(zip(keys, values, strict=True)), "items": [], "scores": []}


def load_predictor(model_uri: str, tracking_uri: str) -> Predictor:
    """Load a model from MLflow (slow: call it off the request path)."""
    with warnings.catch_warnings():
        # MLflow's own deprecation warnings are not actionable here.
        warnings.simplefilter("ignore")
        loaded = load_model(model_uri, tracking_uri=tracking_uri)
    fields = tuple(FieldSpec(f.name, f.type, f.required) for f in loaded.inputs)
    return Predictor(
        model_uri=model_uri,
        task_type=str(loaded.metadata.get("task_type", "")),
        fields=fields,
        loaded=loaded,
        fast_path=loaded.fast_path,
        size_bytes=_size(loaded.path) * _MEMORY_PER_FILE_BYTE,
    )


def _freeze_long_lived(*, after_eviction: bool) -> None:
    """Take what a model load made (the model, the modules its loading imported) out of the
    cyclic garbage collector's walks: full collections walking it stalled every request on the
    event loop (bench_serving p99 250-400 ms before, 55-60 ms after). After an eviction, collect
    once first (here, off the request path), so the evicted model's cycles are freed, not frozen.
    """
    if after_eviction:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


class ModelCache:
    """Models by URI, least recently used evicted once their estimated size passes the budget.

    The most recently used model always stays, whatever its size.
    """

    def __init__(self, budget_bytes: int, tracking_uri: str) -> None:
        self.budget_bytes = budget_bytes
        self.tracking_uri = tracking_uri
        self._models: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, model_uri: str) -> Predictor | None:
        """The loaded model, if cached (marks it recently used)."""
        predictor = self._models.get(model_uri)
        if predictor is not None:
            # Evicted by another thread meanwhile: the reference still works.
            with contextlib.suppress(KeyError):
                self._models.move_to_end(model_uri)
        return predictor

    def load(self, model_uri: str) -> Predictor:
        """The model, loaded now if not cached."""
        cached = self.get(model_uri)
        if cached is not None:
            return cached
        predictor = load_predictor(model_uri, self.tracking_uri)
        with self._lock:
            self._models[model_uri] = predictor
            evicted = self._evict()
        _freeze_long_lived(after_eviction=evicted > 0)
        logger.info("loaded %s (%d bytes estimated)", model_uri, predictor.size_bytes)
        return predictor

    def _evict(self) -> int:
        total = sum(item.size_bytes for item in self._models.values())
        evicted = 0
        while total > self.budget_bytes and len(self._models) > 1:
            uri, model = self._models.popitem(last=False)
            total -= model.size_bytes
            evicted += 1
            self.evictions += 1
            logger.info("evicted %s from the model cache", uri)
        return evicted

    def stats(self) -> dict[str, Any]:
        """Cached models and their estimated bytes."""
        return {
            "models": len(self._models),
            "bytes": sum(item.size_bytes for item in self._models.values()),
            "evictions": self.evictions,
        }
