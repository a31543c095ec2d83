"""Which model a scoring run uses: a training run's model, or a registered version or alias.

A training run id is resolved through the training API; a model id with a version or an alias
(``latest``, ``champion``, ...) through the training API (its registered model's name) and the
MLflow Model Registry. What the run needs of the model (its inputs, key columns, task) is read
from the model's ``MLmodel`` file only: nothing of the recipe is imported in the API.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import FieldError, ServiceUnavailable, UnprocessableEntity
from dsw_scoring.runs.schemas import ModelRef
from dsw_scoring.warmup import warm_imports

LATEST = "latest"


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence the deprecation warnings MLflow's SQLAlchemy store emits about its own code
    (not actionable here; they would fail test suites that turn warnings into errors)."""
    warm_imports()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*Any type hint is inferred as AnyType.*")
        yield


@dataclass(frozen=True)
class ResolvedModel:
    """A model version, pinned: where it is and what it takes."""

    model_uri: str
    training_model_id: str | None
    training_run_id: str | None
    registered_model: str | None
    model_version: str | None
    recipe: str
    task_type: str
    inputs: list[dict[str, Any]]
    key_columns: list[str]


def _unprocessable(detail: str, code: str, pointer: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        detail, code=code, errors=[FieldError(pointer=pointer, message=detail, code=code)]
    )


def _get(client: httpx.Client, path: str) -> httpx.Response:
    try:
        return client.get(path)
    except httpx.TransportError as error:
        raise ServiceUnavailable("the training service is unreachable; retry shortly") from error


def resolve_model(training: httpx.Client, ref: ModelRef, tracking_uri: str) -> ResolvedModel:
    """The model version ``ref`` names now (422 naming the problem when there is none)."""
    if ref.training_run_id is not None:
        return _from_training_run(training, str(ref.training_run_id), tracking_uri)
    assert ref.model_id is not None
    response = _get(training, f"/training/v1/models/{ref.model_id}")
    if response.status_code == 404:
        raise _unprocessable(
            f"model {ref.model_id} not found", "model_not_found", "/body/model/model_id"
        )
    raise_for_problem(response)
    name = str(response.json()["registered_model_name"])
    version, run_id, source = registry_version(name, ref.version, ref.alias, tracking_uri)
    metadata = read_metadata(source, tracking_uri)
    return _resolved(source, metadata, str(ref.model_id), run_id, name, version)


def _from_training_run(training: httpx.Client, run_id: str, tracking_uri: str) -> ResolvedModel:
    pointer = "/body/model/training_run_id"
    response = _get(training, f"/training/v1/runs/{run_id}")
    if response.status_code == 404:
        raise _unprocessable(f"training run {run_id} not found", "model_not_found", pointer)
    raise_for_problem(response)
    run = response.json()
    mlflow = run.get("mlflow") or {}
    if run.get("state") != "succeeded" or not mlflow.get("model_uri"):
        raise _unprocessable(
            f"training run {run_id} is {run.get('state')}; only a succeeded run has a model",
            "model_not_ready",
            pointer,
        )
    metadata = read_metadata(str(mlflow["model_uri"]), tracking_uri)
    return _resolved(
        str(mlflow["model_uri"]),
        metadata,
        str(run["model_id"]),
        run_id,
        mlflow.get("registered_model"),
        mlflow.get("model_version"),
    )


def _resolved(
    uri: str,
    metadata: dict[str, Any],
    model_id: str | None,
    run_id: str | None,
    registered: str | None,
    version: str | None,
) -> ResolvedModel:
    return ResolvedModel(
        model_uri=uri,
        training_model_id=model_id,
        training_run_id=run_id,
        registered_model=registered,
        model_version=version,
        recipe=f"{metadata.get('name', '')} {metadata.get('version', '')}".strip(),
        task_type=str(metadata.get("task_type", "")),
        inputs=[dict(item) for item in metadata.get("inputs", [])],
        key_columns=[str(name) for name in metadata.get("key_columns", [])],
    )


def registry_version(
    name: str, version: str | None, alias: str | None, tracking_uri: str
) -> tuple[str, str | None, str]:
    """(version, training run id, model URI) of a registered model's ``version`` or ``alias``.

    The alias ``latest`` falls back to the highest version when nobody set it.
    """
    with quiet_mlflow():
        return _registry_version(name, version, alias, tracking_uri)


def _registry_version(
    name: str, version: str | None, alias: str | None, tracking_uri: str
) -> tuple[str, str | None, str]:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        if version is not None:
            found = client.get_model_version(name, version)
        else:
            wanted = alias or LATEST
            try:
                found = client.get_model_version_by_alias(name, wanted)
            except MlflowException:
                if wanted != LATEST:
                    raise
                versions = client.search_model_versions(f"name='{name}'")
                if not versions:
                    raise
                found = max(versions, key=lambda item: int(item.version))
    except MlflowException as error:
        what = f"version {version}" if version is not None else f"alias {alias or LATEST!r}"
        raise _unprocessable(
            f"model {name!r} has no {what} in the registry",
            "model_version_not_found",
            "/body/model",
        ) from error
    tags = dict(found.tags or {})
    # The version's source (``runs:/<run>/model``) is where its files are; ``models:/`` URIs
    # do not reach single files such as ``MLmodel``.
    source = str(found.source)
    if not source.startswith("runs:/"):
        source = str(client.get_model_version_download_uri(name, str(found.version)))
    return str(found.version), tags.get("dsw.run_id"), source


def read_metadata(model_uri: str, tracking_uri: str) -> dict[str, Any]:
    """The ``dsw_recipe`` block of the model's ``MLmodel`` file (only that file is fetched)."""
    try:
        with (
            quiet_mlflow(),
            tempfile.TemporaryDirectory(prefix="dsw-scoring-mlmodel-") as scratch,
        ):
            import mlflow.artifacts

            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{model_uri.rstrip('/')}/MLmodel",
                tracking_uri=tracking_uri,
                dst_path=scratch,
            )
            document = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    except Exception as error:  # MLflow raises many kinds for a missing artifact
        raise _unprocessable(
            f"the model at {model_uri} cannot be read: {type(error).__name__}",
            "model_unreadable",
            "/body/model",
        ) from error
    metadata = ((document or {}).get("metadata") or {}).get("dsw_recipe")
    if not isinstance(metadata, dict):
        raise _unprocessable(
            f"{model_uri} is not a model saved by a recipe", "model_unsupported", "/body/model"
        )
    return metadata
