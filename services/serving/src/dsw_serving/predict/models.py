"""Loaded models: a revision's predictor and the per-process cache under a memory budget."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from dsw_recipe import FastPath, LoadedModel, load_model

from dsw_serving.predict.inputs import FieldSpec

logger = logging.getLogger("dsw.serving.models")

# A loaded booster takes a few times its text file in memory; a rough, safe estimate.
_MEMORY_PER_FILE_BYTE = 3


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

    def predict(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None) for input columns."""
        if self.fast_path is None:
            return self._score(columns), None
        raw = self.fast_path.predict(columns)
        if not self.is_classifier:
            return raw, None
        if raw.ndim == 2:
            return np.argmax(raw, axis=1), raw
        return (raw >= 0.5).astype(np.int64), raw

    def _score(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        # Recipes without a booster fast path (ranking) score through their own pipeline.
        table = pa.table({name: pa.array(values.tolist()) for name, values in columns.items()})
        scored = self.loaded.score(table)
        for name in ("prediction", "score"):
            if name in scored.column_names:
                return np.asarray(scored[name].to_numpy(zero_copy_only=False))
        return np.asarray(scored.column(scored.num_columns - 1).to_numpy(zero_copy_only=False))


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
            self._evict()
        logger.info("loaded %s (%d bytes estimated)", model_uri, predictor.size_bytes)
        return predictor

    def _evict(self) -> None:
        total = sum(item.size_bytes for item in self._models.values())
        while total > self.budget_bytes and len(self._models) > 1:
            uri, evicted = self._models.popitem(last=False)
            total -= evicted.size_bytes
            self.evictions += 1
            logger.info("evicted %s from the model cache", uri)

    def stats(self) -> dict[str, Any]:
        """Cached models and their estimated bytes."""
        return {
            "models": len(self._models),
            "bytes": sum(item.size_bytes for item in self._models.values()),
            "evictions": self.evictions,
        }
