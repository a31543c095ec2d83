"""The few MLflow Model Registry calls the API makes itself (aliases)."""

from __future__ import annotations

from typing import Any

from dsw_kit.errors import Conflict, ServiceUnavailable


def _client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def set_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point the registered model's ``alias`` at ``version`` (409 if MLflow lacks it)."""
    from mlflow.exceptions import MlflowException

    try:
        _client(tracking_uri).set_registered_model_alias(name, alias, version)
    except MlflowException as error:
        if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise Conflict(
                f"{name} has no version {version} in the MLflow registry",
                code="version_not_found",
            ) from error
        raise ServiceUnavailable("the MLflow registry failed; retry shortly") from error


def delete_alias(tracking_uri: str, name: str, alias: str) -> None:
    """Remove the registered model's ``alias`` (already gone is fine)."""
    from mlflow.exceptions import MlflowException

    try:
        _client(tracking_uri).delete_registered_model_alias(name, alias)
    except MlflowException as error:
        if getattr(error, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise ServiceUnavailable("the MLflow registry failed; retry shortly") from error
