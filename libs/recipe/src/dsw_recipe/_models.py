"""Saving recipe models as MLflow models, and loading any of them the same way.

Every model directory is a regular MLflow model (`MLmodel` + files) with an input signature, so
`mlflow.pyfunc.load_model` serves any of them. Its `MLmodel` metadata also carries a
`dsw_recipe` block (recipe entry point, version, params, ordered raw inputs), which `load_model`
reads to rebuild the recipe's own model object and offer the booster fast path without pandas.

Two layouts:
  - lightgbm flavour (plain booster, the raw inputs are the booster's features): MLflow's
    `lightgbm` flavour file (`model.lgb`) plus MLflow's own `python_function` flavour.
  - pyfunc flavour (the recipe engineers features): `python_function` with a small wrapper that
    calls the recipe's `prepare` + `score`, and the recipe's state under `artifacts/dsw_state`.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
import yaml

from ._columns import FieldType, InputField
from ._context import RunContext, quiet_mlflow
from ._contract import FastPath, Recipe

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "LoadedModel",
    "load_fast_path",
    "load_model",
    "log_model",
    "model_inputs",
    "resolve_entry_point",
    "save_model",
]

METADATA_KEY = "dsw_recipe"
STATE_ARTIFACT = "dsw_state"

# XDM scalar type -> MLflow ColSpec type name.
_MLFLOW_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "long",
    "number": "double",
    "boolean": "boolean",
    "date": "datetime",
    "date-time": "datetime",
}


def resolve_entry_point(reference: str) -> type[Recipe[Any]]:
    """Import `package.module:ClassName` and check it is a Recipe subclass."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"entry point {reference!r} must look like 'package.module:ClassName'")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, Recipe)):
        raise TypeError(f"{reference} is not a dsw_recipe.Recipe subclass")
    return target


def _signature(inputs: tuple[InputField, ...]) -> Any:
    with quiet_mlflow():
        from mlflow.models.signature import ModelSignature
        from mlflow.types.schema import ColSpec, Schema

    return ModelSignature(
        inputs=Schema(
            [
                ColSpec(_MLFLOW_TYPES[field.type], field.name, required=field.required)
                for field in inputs
            ]
        )
    )


def _requirements() -> list[str]:
    # Listed explicitly: MLflow's inference would import the model in a subprocess (slow) and
    # guess. dsw-recipe itself must be installed wherever a pyfunc-flavour model is loaded.
    from importlib.metadata import PackageNotFoundError, version

    pinned = []
    for name in ("dsw-recipe", "lightgbm", "numpy", "pyarrow", "pandas"):
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def save_model(
    recipe: Recipe[Any],
    model: Any,
    path: str | Path,
    params: Mapping[str, Any],
    *,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write `model` as an MLflow model directory at `path` (which must not exist yet)."""
    path = Path(path)
    inputs = recipe.model_inputs(model)
    metadata = {
        METADATA_KEY: {
            "name": recipe.name,
            "version": recipe.version,
            "task_type": str(recipe.task_type),
            "entry_point": recipe.entry_point(),
            "flavor": recipe.model_flavor,
            "key_columns": list(recipe.key_columns),
            "inputs": [field.to_dict() for field in inputs],
            "params": dict(params),
            **dict(extra_metadata or {}),
        }
    }
    signature = _signature(inputs)
    if recipe.model_flavor == "lightgbm":
        booster = recipe.booster(model)
        if booster is None:
            raise ValueError(f"{recipe.name}: model_flavor lightgbm but booster() is None")
        with quiet_mlflow():
            import mlflow.lightgbm

            mlflow.lightgbm.save_model(
                booster,
                str(path),
                signature=signature,
                metadata=metadata,
                pip_requirements=_requirements(),
            )
        return path
    with tempfile.TemporaryDirectory(prefix="dsw-recipe-state-") as scratch:
        state = Path(scratch) / STATE_ARTIFACT
        state.mkdir()
        recipe.save_model_state(model, state)
        with quiet_mlflow():
            import mlflow.pyfunc

            mlflow.pyfunc.save_model(
                str(path),
                # A model from code: MLflow copies this file and runs it on load, so nothing is
                # pickled; the config says which recipe to rebuild.
                python_model=str(Path(__file__).with_name("_pyfunc_model.py")),
                model_config={"entry_point": recipe.entry_point(), "params": dict(params)},
                artifacts={STATE_ARTIFACT: str(state)},
                signature=signature,
                metadata=metadata,
                pip_requirements=_requirements(),
            )
    return path


def log_model(
    recipe: Recipe[Any],
    model: Any,
    params: Mapping[str, Any],
    ctx: RunContext,
    *,
    artifact_path: str = "model",
) -> str | None:
    """Save the model into the context's MLflow run; returns `runs:/<id>/<artifact_path>`.

    Without tracking nothing is written and None is returned.
    """
    if not ctx.tracking_enabled:
        return None
    with tempfile.TemporaryDirectory(prefix="dsw-recipe-model-") as scratch:
        local = save_model(recipe, model, Path(scratch) / artifact_path, params)
        ctx.log_artifacts(local, artifact_path)
    ctx.set_tags({"dsw.recipe": recipe.name, "dsw.recipe.version": recipe.version})
    return ctx.artifact_uri(artifact_path)


def _local_model_dir(model_uri: str | Path, tracking_uri: str | None) -> Path:
    candidate = Path(str(model_uri).removeprefix("file://"))
    if candidate.is_dir():
        return candidate
    with quiet_mlflow():
        import mlflow.artifacts

        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=str(model_uri), tracking_uri=tracking_uri
            )
        )


def _read_mlmodel(directory: Path) -> dict[str, Any]:
    document = yaml.safe_load((directory / "MLmodel").read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{directory}: MLmodel is not a mapping")
    return document


def _dsw_metadata(document: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    metadata = (document.get("metadata") or {}).get(METADATA_KEY)
    if not isinstance(metadata, dict):
        raise ValueError(f"{directory}: not a dsw_recipe model (no {METADATA_KEY} metadata)")
    return metadata


def model_inputs(model_uri: str | Path, *, tracking_uri: str | None = None) -> list[InputField]:
    """The ordered raw input fields (name, XDM type, required) a saved model expects.

    Reads only the `MLmodel` file: no recipe code is imported and nothing is deserialised.
    """
    directory = _local_model_dir(model_uri, tracking_uri)
    metadata = _dsw_metadata(_read_mlmodel(directory), directory)
    return [
        InputField(
            name=str(item["name"]),
            type=_field_type(item["type"]),
            required=bool(item.get("required", True)),
            description=str(item.get("description", "")),
        )
        for item in metadata["inputs"]
    ]


def _field_type(value: Any) -> FieldType:
    allowed: tuple[FieldType, ...] = ("string", "integer", "number", "boolean", "date", "date-time")
    for candidate in allowed:
        if value == candidate:
            return candidate
    raise ValueError(f"unknown field type {value!r}")


@dataclass
class LoadedModel:
    """A saved recipe model, rebuilt: the recipe, its model object, and how to call it."""

    recipe: Recipe[Any]
    model: Any
    params: dict[str, Any]
    inputs: tuple[InputField, ...]
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        """Raw input names in the order the model expects them."""
        return [field.name for field in self.inputs]

    @property
    def booster(self) -> lgb.Booster | None:
        """The LightGBM booster, when the recipe has one."""
        return self.recipe.booster(self.model)

    @property
    def fast_path(self) -> FastPath | None:
        """Booster + feature builder for pandas-free prediction (None when not available)."""
        return self.recipe.fast_path(self.model)

    def score(self, data: pa.Table | ds.Dataset, ctx: RunContext | None = None) -> pa.Table:
        """Predictions for raw rows: the recipe's `prepare` (scoring) then `score`."""
        context = ctx or RunContext()
        features = self.recipe.prepare(data, self.params, context, scoring=True)
        return self.recipe.score(self.model, features, self.params, context)


def load_model(
    model_uri: str | Path,
    *,
    tracking_uri: str | None = None,
    recipe: type[Recipe[Any]] | None = None,
) -> LoadedModel:
    """Load any recipe's saved model (a directory, `runs:/...`, or any MLflow artifact URI).

    The recipe class is imported from the entry point recorded in the model unless `recipe` is
    given (custom recipes whose package the caller put on the path itself).
    """
    directory = _local_model_dir(model_uri, tracking_uri)
    document = _read_mlmodel(directory)
    metadata = _dsw_metadata(document, directory)
    recipe_class = recipe or resolve_entry_point(str(metadata["entry_point"]))
    instance = recipe_class()
    flavors = document.get("flavors") or {}
    if metadata.get("flavor") == "lightgbm":
        import lightgbm as lgb

        data = flavors["lightgbm"]["data"]
        model = instance.model_from_booster(lgb.Booster(model_file=str(directory / data)))
    else:
        artifacts = flavors["python_function"]["artifacts"]
        model = instance.load_model_state(directory / artifacts[STATE_ARTIFACT]["path"])
    return LoadedModel(
        recipe=instance,
        model=model,
        params=dict(metadata.get("params") or {}),
        inputs=tuple(model_inputs(directory)),
        path=directory,
        metadata=metadata,
    )


def load_fast_path(model_uri: str | Path, *, tracking_uri: str | None = None) -> FastPath | None:
    """The booster fast path of a saved model (None when its recipe offers none)."""
    return load_model(model_uri, tracking_uri=tracking_uri).fast_path
