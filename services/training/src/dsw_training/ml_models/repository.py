"""Queries on models (tenant scoping is applied by the session, see dsw_kit.db)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, String, cast, select
from sqlalchemy.orm import Session

from dsw_training.models import TrainingModel, TrainingRun, TrainingSchedule

ACTIVE_RUN_STATES = ("queued", "running")


def get_live(session: Session, model_id: uuid.UUID) -> TrainingModel | None:
    """The model unless it does not exist, belongs to another tenant, or was deleted."""
    return session.scalar(
        select(TrainingModel).where(
            TrainingModel.id == model_id, TrainingModel.deleted_at.is_(None)
        )
    )


def find_live_by_name(session: Session, name: str) -> TrainingModel | None:
    """The live model called ``name`` in the session's tenant."""
    return session.scalar(
        select(TrainingModel).where(TrainingModel.name == name, TrainingModel.deleted_at.is_(None))
    )


def live_models(
    *, name: str | None = None, tag: str | None = None, recipe_id: str | None = None
) -> Select[TrainingModel]:
    """A select of live models matching the filters."""
    query = select(TrainingModel).where(TrainingModel.deleted_at.is_(None))
    if name:
        query = query.where(TrainingModel.name.contains(name, autoescape=True))
    if recipe_id:
        query = query.where(TrainingModel.recipe_id == recipe_id)
    if tag:
        query = query.where(cast(TrainingModel.tags, String).contains(f'"{tag}"', autoescape=True))
    return query


def active_runs(session: Session, model_id: uuid.UUID) -> list[TrainingRun]:
    """The model's queued and running runs."""
    return list(
        session.scalars(
            select(TrainingRun).where(
                TrainingRun.model_id == model_id, TrainingRun.state.in_(ACTIVE_RUN_STATES)
            )
        )
    )


def latest_succeeded_run(session: Session, model_id: uuid.UUID) -> TrainingRun | None:
    """The model's newest succeeded run that registered a model version (its ``latest``)."""
    return session.scalar(
        select(TrainingRun)
        .where(
            TrainingRun.model_id == model_id,
            TrainingRun.state == "succeeded",
            TrainingRun.model_version.is_not(None),
        )
        .order_by(TrainingRun.finished_at.desc(), TrainingRun.id.desc())
        .limit(1)
    )


def schedules_of(session: Session, model_id: uuid.UUID) -> list[TrainingSchedule]:
    """The model's schedules."""
    return list(
        session.scalars(select(TrainingSchedule).where(TrainingSchedule.model_id == model_id))
    )
