"""Routes: what training knows of catalog datasets."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from dsw_kit.errors import NotFound, problem_responses
from dsw_kit.web import UnitOfWork, unit_of_work
from dsw_training.models import DatasetActivity

router = APIRouter(prefix="/training/v1/datasets", tags=["datasets"])


class DatasetActivityOut(BaseModel):
    """Training's view of a catalog dataset, from the catalog's events."""

    dataset_id: str
    name: str
    deleted: bool
    batches_succeeded: int
    last_batch_id: str | None
    updated: datetime


@router.get(
    "/{dataset_id}/activity",
    response_model=DatasetActivityOut,
    responses=problem_responses(404),
    summary="What training has heard about a dataset (new batches trigger retraining)",
)
def get_activity(
    dataset_id: uuid.UUID, work: UnitOfWork = unit_of_work("training:read")
) -> DatasetActivityOut:
    activity = work.session.scalar(
        select(DatasetActivity).where(DatasetActivity.dataset_id == str(dataset_id))
    )
    if activity is None:
        raise NotFound(f"no activity known for dataset {dataset_id}", code="dataset_not_known")
    return DatasetActivityOut(
        dataset_id=activity.dataset_id,
        name=activity.name,
        deleted=activity.deleted,
        batches_succeeded=activity.batches_succeeded,
        last_batch_id=activity.last_batch_id,
        updated=activity.updated,
    )
