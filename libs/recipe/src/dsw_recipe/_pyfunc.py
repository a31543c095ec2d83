"""The MLflow pyfunc wrapper of pyfunc-flavour recipe models (imported only when saving/loading
through MLflow's pyfunc API, since it pulls in mlflow.pyfunc and pandas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# pandas has no type stubs here; MLflow reads the DataFrame hint to skip type-hint inference.
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa

from ._context import RunContext, quiet_mlflow
from ._contract import Recipe
from ._models import STATE_ARTIFACT, resolve_entry_point

with quiet_mlflow():
    from mlflow.pyfunc.model import PythonModel

__all__ = ["RecipePythonModel"]


class RecipePythonModel(PythonModel):
    """Rebuilds the recipe's model from its saved state and scores through the recipe.

    Input: a DataFrame of raw rows with the model's input fields; output: the recipe's `score`
    table (key columns + predictions) as a DataFrame. The recipe entry point and parameters come
    from the MLflow model config (`entry_point`, `params`).
    """

    # The model's signature (from the recipe's input fields) validates inputs, not type hints.
    _skip_type_hint_validation = True

    def __init__(self) -> None:
        self._recipe: Recipe[Any] | None = None
        self._model: Any = None
        self._params: dict[str, Any] = {}

    def load_context(self, context: Any) -> None:
        """Import the recipe and rebuild its model from the `dsw_state` artifact."""
        config = context.model_config or {}
        self._recipe = resolve_entry_point(str(config["entry_point"]))()
        self._params = dict(config.get("params") or {})
        self._model = self._recipe.load_model_state(Path(context.artifacts[STATE_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """Score raw rows; `params` (MLflow's inference parameters) override saved params."""
        recipe = self._recipe
        if recipe is None:
            raise RuntimeError("recipe not loaded (load_context was not called)")
        merged = {**self._params, **dict(params or {})}
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        ctx = RunContext()
        features = recipe.prepare(table, merged, ctx, scoring=True)
        # A pandas DataFrame in and out is MLflow's pyfunc interface; Arrow converts both ways.
        return recipe.score(self._model, features, merged, ctx).to_pandas()
