"""The local runner: prepare, split, train, evaluate (and score the holdout) on one file."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from ._columns import read_table
from ._context import RunContext
from ._contract import Recipe, TimeWindow
from ._models import log_model, save_model
from ._registry import get_recipe

__all__ = ["LocalRunResult", "run_local"]


@dataclass
class LocalRunResult:
    """What `run_local` produced."""

    recipe: Recipe[Any]
    params: dict[str, Any]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None
    model: Any
    rows: dict[str, int]
    seconds: dict[str, float]
    predictions: pa.Table | None = None
    model_path: Path | None = None
    model_uri: str | None = None
    run_id: str | None = None
    progress: list[Any] = field(default_factory=list)
    # Total gain of each booster feature (None: the model has no LightGBM booster).
    feature_importance: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what the CLI prints)."""
        return {
            "recipe": self.recipe.name,
            "version": self.recipe.version,
            "params": self.params,
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "feature_importance": self.feature_importance,
            "rows": self.rows,
            "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
            "model_path": str(self.model_path) if self.model_path else None,
            "model_uri": self.model_uri,
            "run_id": self.run_id,
        }


def _recipe_instance(recipe: Recipe[Any] | type[Recipe[Any]] | str) -> Recipe[Any]:
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str):
        return get_recipe(recipe)()
    return recipe()


def run_local(
    recipe: Recipe[Any] | type[Recipe[Any]] | str,
    data: str | Path | pa.Table | ds.Dataset,
    params: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
    experiment_name: str = "dsw-local",
    output_dir: str | Path | None = None,
    window: TimeWindow | None = None,
    baseline: bool = True,
    score_holdout: bool = True,
    coerce_params: bool = False,
    ctx: RunContext | None = None,
) -> LocalRunResult:
    """Train and evaluate `recipe` on a CSV/Parquet file (or a table) the way a training run does.

    `recipe` is an instance, a class, a built-in name or `module:Class`. Params are validated
    (`coerce_params` parses text values). With `tracking_uri` params, metrics (baseline metrics
    prefixed `baseline_`) and the model go to an MLflow run; with `output_dir` the model is also
    saved there as `<output_dir>/model`. Pass `ctx` to report to your own context instead.
    """
    instance = _recipe_instance(recipe)
    resolved = instance.validate_params(params, coerce=coerce_params)
    context = ctx or RunContext(
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        run_name=f"{instance.name}-local",
        tags={"dsw.recipe": instance.name, "dsw.recipe.version": instance.version},
    )
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    owns_context = ctx is None
    if owns_context:
        context.__enter__()
    try:
        context.log_params(resolved)
        table = read_table(data) if isinstance(data, str | Path) else data
        features = instance.prepare(table, resolved, context, window=window)
        lap("prepare")
        split = instance.split(features, resolved, context)
        context.progress("split", 100, rows=split.train.num_rows + split.holdout.num_rows)
        lap("split")
        model = instance.train(split.train, resolved, context)
        lap("train")
        importance = feature_importance(instance, model)
        context.progress("evaluate", 0, rows=split.holdout.num_rows)
        metrics = instance.evaluate(model, split.holdout, resolved, context)
        context.log_metrics(metrics)
        lap("evaluate")
        baseline_metrics = None
        if baseline:
            baseline_metrics = instance.evaluate_baseline(
                split.train, split.holdout, resolved, context
            )
            if baseline_metrics is not None:
                context.log_metrics({f"baseline_{k}": v for k, v in baseline_metrics.items()})
            lap("baseline")
        context.progress("evaluate", 100, rows=split.holdout.num_rows)
        predictions = None
        if score_holdout:
            predictions = instance.score(model, split.holdout, resolved, context)
            lap("score")
        model_path = None
        if output_dir is not None:
            model_path = save_model(instance, model, Path(output_dir) / "model", resolved)
        model_uri = log_model(instance, model, resolved, context)
        lap("save")
        context.progress("done", 100)
    except BaseException:
        if owns_context:
            context.end("FAILED")
        raise
    if owns_context:
        context.end("FINISHED")
    return LocalRunResult(
        recipe=instance,
        params=dict(resolved),
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        model=model,
        rows={
            "prepared": features.num_rows,
            "train": split.train.num_rows,
            "holdout": split.holdout.num_rows,
        },
        seconds=seconds,
        predictions=predictions,
        model_path=model_path,
        model_uri=model_uri,
        run_id=context.run_id,
        progress=list(context.events),
        feature_importance=importance,
    )


def feature_importance(recipe: Recipe[Any], model: Any) -> dict[str, float] | None:
    """Total gain of each feature of the model's LightGBM booster, largest first (None
    without a booster)."""
    booster = recipe.booster(model)
    if booster is None:
        return None
    gains = booster.feature_importance(importance_type="gain")
    pairs = zip(booster.feature_name(), (float(value) for value in gains), strict=True)
    return dict(sorted(pairs, key=lambda pair: -pair[1]))
