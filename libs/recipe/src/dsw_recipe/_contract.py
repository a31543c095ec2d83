"""The recipe contract: what a recipe declares and the five steps it implements.

A recipe is a class. Its class attributes declare what it is (name, version, task type), what it
reads (input fields, input and target features, key columns) and what it accepts
(hyperparameters). Its methods turn a dataset into features (`prepare`, built on `features`),
split them (`split`), train a model (`train`), measure it (`evaluate`) and predict (`score`).
Every method receives the validated parameter set and a `RunContext`.
"""

from __future__ import annotations

import inspect
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, NamedTuple, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ._columns import InputField, RecipeDataError, find_column, parse_time
from ._context import RunContext
from ._metrics import MetricDirection, metric_direction
from ._params import ParamSpec, ParamValue

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "REQUIRED_METHODS",
    "FastPath",
    "ModelFlavor",
    "Params",
    "Recipe",
    "Split",
    "TaskType",
    "TimeWindow",
    "check_recipe_class",
]

ModelT = TypeVar("ModelT")
Params: TypeAlias = Mapping[str, ParamValue]
ModelFlavor: TypeAlias = Literal["lightgbm", "pyfunc"]

REQUIRED_METHODS = ("features", "split", "train", "evaluate", "score")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?$")


class TaskType(StrEnum):
    """What a recipe predicts."""

    REGRESSION = "regression"
    CLASSIFICATION = "classification"
    RANKING = "ranking"
    CUSTOM = "custom"


@dataclass(frozen=True)
class TimeWindow:
    """Keep rows whose time is in `[start, end)`; either bound may be open (None).

    Naive datetimes are read as UTC, like the recipes' time columns.
    """

    start: datetime | None = None
    end: datetime | None = None

    def mask(self, times: pa.Array) -> pa.Array:
        """Boolean mask of `times` (timestamp[us]) inside the window; null times are outside."""
        keep = pc.is_valid(times)
        if self.start is not None:
            keep = pc.and_(keep, pc.greater_equal(times, _scalar(self.start)))
        if self.end is not None:
            keep = pc.and_(keep, pc.less(times, _scalar(self.end)))
        return pc.fill_null(keep, False)


def _scalar(moment: datetime, type_: pa.DataType | None = None) -> pa.Scalar:
    """`moment` as a timestamp scalar comparable with a column of `type_` (naive UTC default)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    target = type_ if type_ is not None else pa.timestamp("us")
    if getattr(target, "tz", None) is not None:
        return pa.scalar(moment.replace(tzinfo=UTC), type=pa.timestamp(target.unit, tz="UTC"))
    return pa.scalar(moment, type=pa.timestamp(target.unit if type_ is not None else "us"))


class Split(NamedTuple):
    """Training rows and held-out rows."""

    train: pa.Table
    holdout: pa.Table


@dataclass(frozen=True)
class FastPath:
    """Direct access to a model's LightGBM booster and its feature builder.

    Serving calls `build_features` on raw input columns (NumPy arrays keyed by the names in
    `inputs`), passes the 2-D float array it returns, whose columns are in `feature_names` order,
    to `booster.predict`, and applies `postprocess`; `predict` does all three. No pandas.
    """

    booster: lgb.Booster
    feature_names: tuple[str, ...]
    inputs: tuple[InputField, ...]
    build_features: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    postprocess: Callable[[np.ndarray], np.ndarray] = field(default=lambda raw: raw)

    def predict(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Predictions for raw input columns."""
        matrix = self.build_features(columns)
        raw = np.asarray(self.booster.predict(matrix, num_threads=1))
        return self.postprocess(raw)


class Recipe(ABC, Generic[ModelT]):
    """Base class of every recipe; subclass it and fill in the declarations and five methods.

    Declarations (class attributes):
      - `name`, `version`, `description`, `task_type`
      - `input_fields`: every field read, with XDM types (flat dotted names)
      - `input_features` / `target_features`: names of the fields used as inputs and targets
      - `key_columns`: columns that identify a row of `score` output
      - `time_field`: the field `TimeWindow` filters on and time splits use (None: no time)
      - `params`: the hyperparameter spec
      - `model_flavor`: "lightgbm" when the model is a plain booster whose inputs are the raw
        features, else "pyfunc" (the model is wrapped with the recipe's own scoring code)

    Methods to implement: `features`, `split`, `train`, `evaluate`, `score`. Optional overrides:
    `model_inputs`, `save_model_state`/`load_model_state` (default: pickle), `booster`
    and `model_from_booster` (required for the lightgbm flavour), `fast_path` and
    `evaluate_baseline`.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    task_type: ClassVar[TaskType] = TaskType.CUSTOM
    input_fields: ClassVar[tuple[InputField, ...]] = ()
    input_features: ClassVar[tuple[str, ...]] = ()
    target_features: ClassVar[tuple[str, ...]] = ()
    key_columns: ClassVar[tuple[str, ...]] = ()
    time_field: ClassVar[str | None] = None
    params: ClassVar[ParamSpec] = ParamSpec()
    model_flavor: ClassVar[ModelFlavor] = "pyfunc"
    # Whether lower ("min") or higher ("max") is better, for metrics whose name does not say
    # it the usual way (see `metric_direction`); the platform compares runs, runs sweeps and
    # promotes models by these.
    metric_directions: ClassVar[Mapping[str, MetricDirection]] = {}

    # -- declarations as data ------------------------------------------------------------------

    @classmethod
    def entry_point(cls) -> str:
        """`module:Class`, the reference the model metadata keeps to find the recipe again."""
        return f"{cls.__module__}:{cls.__qualname__}"

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The recipe's declarations, JSON-ready (what a registry lists)."""
        return {
            "name": cls.name,
            "version": cls.version,
            "description": cls.description,
            "taskType": str(cls.task_type),
            "inputFields": [field.to_dict() for field in cls.input_fields],
            "inputFeatures": list(cls.input_features),
            "targetFeatures": list(cls.target_features),
            "keyColumns": list(cls.key_columns),
            "timeField": cls.time_field,
            "modelFlavor": cls.model_flavor,
            "metricDirections": dict(cls.metric_directions),
            "params": cls.params.to_json_schema(title=f"{cls.name} {cls.version} parameters"),
            "entryPoint": cls.entry_point(),
        }

    @classmethod
    def direction(cls, metric: str) -> MetricDirection:
        """Whether lower ("min") or higher ("max") values of `metric` are better: the recipe's
        own declaration, else the usual meaning of its name (errors and losses lower)."""
        declared = cls.metric_directions.get(metric)
        return declared if declared is not None else metric_direction(metric)

    @classmethod
    def validate_params(
        cls, values: Mapping[str, Any] | None = None, *, coerce: bool = False
    ) -> dict[str, ParamValue]:
        """Defaults overlaid with `values`, checked (`ParamValidationError` lists each problem)."""
        return cls.params.validate(values, coerce=coerce)

    # -- the five steps ------------------------------------------------------------------------

    def prepare(
        self,
        data: pa.Table | ds.Dataset,
        params: Params,
        ctx: RunContext,
        *,
        window: TimeWindow | None = None,
        scoring: bool = False,
    ) -> pa.Table:
        """Dataset -> features: read `data` (only the window's rows), then call `features`.

        `scoring` says the features are for prediction, so targets may be absent.
        """
        table = self._materialise(data, window)
        if window is not None:
            table = self.filter_window(table, window)
        ctx.progress("prepare", 0, rows=table.num_rows)
        features = self.features(table, params, ctx, scoring=scoring)
        ctx.progress("prepare", 100, rows=features.num_rows)
        return features

    @abstractmethod
    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Raw rows -> a feature table (with key columns, and targets unless `scoring`)."""

    @abstractmethod
    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """Features -> training rows and held-out rows (by time where the data is a series)."""

    @abstractmethod
    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> ModelT:
        """Training rows -> a model."""

    @abstractmethod
    def evaluate(
        self, model: ModelT, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """Model + held-out rows -> named metrics."""

    @abstractmethod
    def score(self, model: ModelT, features: pa.Table, params: Params, ctx: RunContext) -> pa.Table:
        """Model + features -> predictions, with the key columns."""

    # -- optional ------------------------------------------------------------------------------

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float] | None:
        """Metrics of a simple reference model on the same split (None: no baseline)."""
        return None

    def model_inputs(self, model: ModelT) -> tuple[InputField, ...]:
        """The raw inputs a saved model takes, in order (its MLflow input signature).

        Default: the declared input fields named in `input_features`, then any other declared
        non-target fields that are key columns.
        """
        wanted = set(self.input_features) | set(self.key_columns)
        return tuple(field for field in self.input_fields if field.name in wanted)

    def save_model_state(self, model: ModelT, directory: Path) -> None:
        """Write what `load_model_state` needs to rebuild the model (default: a pickle)."""
        with (directory / "model.pkl").open("wb") as handle:
            pickle.dump(model, handle)

    def load_model_state(self, directory: Path) -> ModelT:
        """Rebuild the model `save_model_state` wrote."""
        with (directory / "model.pkl").open("rb") as handle:
            model: ModelT = pickle.load(handle)
        return model

    def booster(self, model: ModelT) -> lgb.Booster | None:
        """The model's LightGBM booster, if it has one."""
        return None

    def model_from_booster(self, booster: lgb.Booster) -> ModelT:
        """The model from a booster loaded by the LightGBM flavour (lightgbm flavour only)."""
        raise NotImplementedError(f"{type(self).__name__} does not save a plain booster")

    def fast_path(self, model: ModelT) -> FastPath | None:
        """Booster + feature builder for serving without pandas (None: use `score`)."""
        return None

    # -- helpers for implementations -----------------------------------------------------------

    def _materialise(self, data: pa.Table | ds.Dataset, window: TimeWindow | None) -> pa.Table:
        if isinstance(data, pa.Table):
            return data
        if isinstance(data, ds.Dataset):
            column = self.time_field
            if (
                window is not None
                and column is not None
                and column in data.schema.names
                and pa.types.is_timestamp(data.schema.field(column).type)
            ):
                # Push the window down so only the matching row groups are read.
                column_type = data.schema.field(column).type
                expression = ds.field(column).is_valid()
                if window.start is not None:
                    expression &= ds.field(column) >= _scalar(window.start, column_type)
                if window.end is not None:
                    expression &= ds.field(column) < _scalar(window.end, column_type)
                return data.to_table(filter=expression)
            return data.to_table()
        raise TypeError(f"expected a pyarrow Table or Dataset, got {type(data).__name__}")

    def filter_window(self, table: pa.Table, window: TimeWindow) -> pa.Table:
        """Rows of `table` inside `window` on the recipe's `time_field`."""
        if self.time_field is None:
            raise RecipeDataError(f"recipe {self.name!r} has no time field to filter on")
        column = find_column(table.column_names, self.time_field)
        if column is None:
            raise RecipeDataError(f"missing time field {self.time_field!r}")
        times = parse_time(table.column(column))
        return table.filter(window.mask(times))


def check_recipe_class(recipe: object) -> list[str]:
    """Contract problems of a recipe class (empty list when it satisfies the contract)."""
    if not (inspect.isclass(recipe) and issubclass(recipe, Recipe)):
        return [f"{recipe!r} is not a subclass of dsw_recipe.Recipe"]
    problems: list[str] = []
    for attribute in ("name", "version"):
        value = getattr(recipe, attribute, None)
        if not isinstance(value, str) or not value:
            problems.append(f"{attribute} must be a non-empty string")
    name = getattr(recipe, "name", "")
    if isinstance(name, str) and name and not _NAME.match(name):
        problems.append(f"name {name!r} must be lower-case words joined by '-' or '_'")
    version = getattr(recipe, "version", "")
    if isinstance(version, str) and version and not _VERSION.match(version):
        problems.append(f"version {version!r} must look like MAJOR.MINOR.PATCH")
    # Read through getattr: a custom class may declare anything, whatever the annotations say.
    if not isinstance(getattr(recipe, "task_type", None), TaskType):
        problems.append("task_type must be a TaskType")
    if not isinstance(getattr(recipe, "params", None), ParamSpec):
        problems.append("params must be a ParamSpec")
    if getattr(recipe, "model_flavor", None) not in ("lightgbm", "pyfunc"):
        problems.append("model_flavor must be 'lightgbm' or 'pyfunc'")
    declared = {field.name for field in recipe.input_fields}
    for group in ("input_features", "target_features"):
        unknown = [name for name in getattr(recipe, group) if name not in declared]
        if unknown:
            problems.append(f"{group} not among input_fields: {', '.join(unknown)}")
    if recipe.time_field is not None and recipe.time_field not in declared:
        problems.append(f"time_field {recipe.time_field!r} is not among input_fields")
    abstract = sorted(getattr(recipe, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"methods not implemented: {', '.join(abstract)}")
    if recipe.model_flavor == "lightgbm" and recipe.model_from_booster is Recipe.model_from_booster:
        problems.append("the lightgbm flavour needs booster() and model_from_booster()")
    return problems
