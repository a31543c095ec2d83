"""Queries on datasets (tenant scoping is applied by the session, see dsw_kit.db)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, String, cast, select
from sqlalchemy.orm import Session

from dsw_catalog.models import Dataset


def get_live(session: Session, dataset_id: uuid.UUID) -> Dataset | None:
    """The dataset unless it does not exist, belongs to another tenant, or was deleted."""
    return session.scalar(
        select(Dataset).where(Dataset.id == dataset_id, Dataset.deleted_at.is_(None))
    )


def find_live_by_name(session: Session, name: str) -> Dataset | None:
    """The live dataset called ``name`` in the session's tenant."""
    return session.scalar(select(Dataset).where(Dataset.name == name, Dataset.deleted_at.is_(None)))


def live_datasets(
    *, name: str | None = None, tag: str | None = None, schema_id: str | None = None
) -> Select[Dataset]:
    """A select of live datasets matching the filters."""
    query = select(Dataset).where(Dataset.deleted_at.is_(None))
    if name:
        query = query.where(Dataset.name.contains(name, autoescape=True))
    if schema_id:
        query = query.where(Dataset.schema_id == schema_id)
    if tag:
        # Tags are a JSON list; matching its text form works on SQLite and PostgreSQL alike.
        query = query.where(cast(Dataset.tags, String).contains(f'"{tag}"', autoescape=True))
    return query
