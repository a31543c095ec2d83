"""Which model a source names: a training run, or a training model's latest / best run.

Runs are read through the training API; what serving needs of the model (its inputs and task)
is read from the model's ``MLmodel`` file only, so nothing of the recipe is imported here.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import FieldError, ServiceUnavailable, UnprocessableEntity


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned to one training run: where it is, what it takes, how it scored."""

    model_uri: str
    training_run_id: str
    training_model_id: str
    registered_model: str | None
    model_version: str | None
    metrics: dict[str, float]
    task_type: str
    recipe: str
    inputs: list[dict[str, Any]] = field(default_factory=list)


def unprocessable(detail: str, code: str, pointer: str) -> UnprocessableEntity:
    """A 422 naming the offending field."""
    return UnprocessableEntity(
        detail, code=code, errors=[FieldError(pointer=pointer, message=detail, code=code)]
    )


def _get(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
    try:
        return client.get(path, params=params)
    except httpx.TransportError as error:
        raise ServiceUnavailable("the training service is unreachable; retry shortly") from error


def resolve_run(
    training: httpx.Client, run_id: str, tracking_uri: str, pointer: str
) -> ResolvedModel:
    """The model of a succeeded training run (422 when there is none)."""
    response = _get(training, f"/training/v1/runs/{run_id}")
    if response.status_code == 404:
        raise unprocessable(f"training run {run_id} not found", "run_not_found", pointer)
    raise_for_problem(response)
    return from_run(response.json(), tracking_uri, pointer)


def resolve_policy(
    training: httpx.Client,
    model_id: str,
    policy: str,
    metric: str | None,
    direction: str,
    tracking_uri: str,
) -> ResolvedModel:
    """The latest succeeded run of a model, or its best by ``metric``."""
    pointer = "/body/source/model_id"
    orderby = "-created"
    if policy == "best":
        orderby = f"{'-' if direction == 'max' else ''}metrics.{metric}"
    response = _get(
        training,
        f"/training/v1/models/{model_id}/runs",
        {"state": "succeeded", "limit": 1, "orderby": orderby},
    )
    if response.status_code == 404:
        raise unprocessable(f"model {model_id} not found", "model_not_found", pointer)
    raise_for_problem(response)
    items = response.json().get("items") or []
    if not items:
        raise unprocessable(
            f"model {model_id} has no succeeded training run yet", "model_not_ready", pointer
        )
    return from_run(items[0], tracking_uri, pointer)


def from_run(run: dict[str, Any], tracking_uri: str, pointer: str) -> ResolvedModel:
    """A resolved model from a training run as the training API returns it."""
    mlflow = run.get("mlflow") or {}
    if run.get("state") != "succeeded" or not mlflow.get("model_uri"):
        raise unprocessable(
            f"training run {run.get('id')} is {run.get('state')}; only a succeeded run has a model",
            "model_not_ready",
            pointer,
        )
    uri = str(mlflow["model_uri"])
    metadata = read_metadata(uri, tracking_uri, pointer)
    return ResolvedModel(
        model_uri=uri,
        training_run_id=str(run["id"]),
        training_model_id=str(run["model_id"]),
        registered_model=mlflow.get("registered_model"),
        model_version=mlflow.get("model_version"),
        metrics={str(k): float(v) for k, v in (run.get("metrics") or {}).items()},
        task_type=str(metadata.get("task_type", "")),
        recipe=f"{metadata.get('name', '')} {metadata.get('version', '')}".strip(),
        inputs=[dict(item) for item in metadata.get("inputs", [])],
    )


def read_metadata(model_uri: str, tracking_uri: str, pointer: str) -> dict[str, Any]:
    """The ``dsw_recipe`` block of the model's ``MLmodel`` file (only that file is fetched)."""
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="dsw-mlmodel-") as tmp:
            # MLflow's own deprecation warnings are not actionable here.
            warnings.simplefilter("ignore")
            import mlflow.artifacts

            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{model_uri.rstrip('/')}/MLmodel",
                tracking_uri=tracking_uri,
                dst_path=tmp,
            )
            document = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    except Exception as error:  # MLflow raises many kinds for a missing artifact
        raise unprocessable(
            f"the model at {model_uri} cannot be read: {type(error).__name__}",
            "model_unreadable",
            pointer,
        ) from error
    metadata = ((document or {}).get("metadata") or {}).get("dsw_recipe")
    if not isinstance(metadata, dict):
        raise unprocessable(
            f"{model_uri} is not a model saved by a recipe", "model_unsupported", pointer
        )
    return metadata
