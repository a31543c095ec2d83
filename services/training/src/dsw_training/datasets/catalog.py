"""What training asks the catalog: does a dataset exist, and which files does it hold now."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import FieldError, ServiceUnavailable, UnprocessableEntity
from dsw_training.models import DatasetActivity


def _not_found(dataset_id: str, pointer: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        f"dataset {dataset_id} not found in the catalog",
        code="dataset_not_found",
        errors=[FieldError(pointer=pointer, message="unknown dataset")],
    )


def check_dataset(
    session: Session, client: httpx.Client, dataset_id: str, *, pointer: str = "/body/dataset_id"
) -> None:
    """422 unless the catalog knows the dataset.

    When the catalog cannot be reached, what training heard from the catalog's events decides
    (503 if it heard nothing of this dataset).
    """
    try:
        response = client.get(f"/catalog/v1/datasets/{dataset_id}")
    except httpx.TransportError as error:
        activity = session.scalar(
            select(DatasetActivity).where(DatasetActivity.dataset_id == dataset_id)
        )
        if activity is not None and not activity.deleted:
            return
        if activity is not None:
            raise _not_found(dataset_id, pointer) from error
        raise ServiceUnavailable(
            "the catalog is unreachable and has not announced this dataset; retry shortly"
        ) from error
    if response.status_code == 404:
        raise _not_found(dataset_id, pointer)
    raise_for_problem(response)


def dataset_snapshot(
    client: httpx.Client, dataset_id: str, *, pointer: str = "/body/dataset_id"
) -> list[dict[str, Any]]:
    """The dataset's visible files now (``batch_id``, ``name``, ``uri``, ``rows``); 422 if none."""
    try:
        response = client.get(f"/catalog/v1/datasets/{dataset_id}/files")
    except httpx.TransportError as error:
        raise ServiceUnavailable("the catalog is unreachable; retry shortly") from error
    if response.status_code == 404:
        raise _not_found(dataset_id, pointer)
    raise_for_problem(response)
    files = [
        {
            "batch_id": str(item["batch_id"]),
            "name": str(item["name"]),
            "uri": str(item["uri"]),
            "rows": int(item.get("rows") or 0),
        }
        for item in response.json()
    ]
    if not files:
        raise UnprocessableEntity(
            f"dataset {dataset_id} holds no data yet; ingest a batch first",
            code="dataset_empty",
        )
    return files
