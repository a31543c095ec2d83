"""Queries on training runs (tenant scoping is applied by the session, see dsw_kit.db)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from dsw_kit.errors import BadRequest
from dsw_kit.pagination import Page
from dsw_training.models import RunMetric, TrainingRun


def get(session: Session, run_id: uuid.UUID) -> TrainingRun | None:
    """The run, unless it does not exist or belongs to another tenant."""
    return session.scalar(select(TrainingRun).where(TrainingRun.id == run_id))


def model_runs(model_id: uuid.UUID, *, state: str | None = None) -> Select[TrainingRun]:
    """A select of a model's runs, optionally in one state."""
    query = select(TrainingRun).where(TrainingRun.model_id == model_id)
    if state:
        query = query.where(TrainingRun.state == state)
    return query


def runs_by_ids(
    session: Session, model_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[TrainingRun]:
    """The model's runs among ``ids``, in the order asked."""
    found = {
        run.id: run
        for run in session.scalars(
            select(TrainingRun).where(TrainingRun.model_id == model_id, TrainingRun.id.in_(ids))
        )
    }
    return [found[run_id] for run_id in ids if run_id in found]


def recent_runs(
    session: Session, model_id: uuid.UUID, *, state: str | None, limit: int
) -> list[TrainingRun]:
    """The model's latest runs (oldest first)."""
    query = model_runs(model_id, state=state).order_by(TrainingRun.created.desc()).limit(limit)
    return list(reversed(session.scalars(query).all()))


def _encode(value: float, run_id: uuid.UUID, orderby: str) -> str:
    text = json.dumps({"o": orderby, "v": value, "id": str(run_id)})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, orderby: str) -> tuple[float, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if position["o"] != orderby:
            raise ValueError("another ordering")
        return float(position["v"]), uuid.UUID(position["id"])
    except (ValueError, KeyError, TypeError) as error:
        raise BadRequest("the cursor is not valid", code="invalid_cursor") from error


def page_by_metric(
    session: Session,
    model_id: uuid.UUID,
    *,
    metric: str,
    descending: bool,
    limit: int,
    cursor: str | None,
    state: str | None,
) -> Page[TrainingRun]:
    """The model's runs that have ``metric``, ordered by its value (keyset pagination)."""
    orderby = f"{'-' if descending else ''}metrics.{metric}"
    query = (
        select(TrainingRun, RunMetric.value)
        .join(RunMetric, RunMetric.run_id == TrainingRun.id)
        .where(TrainingRun.model_id == model_id, RunMetric.name == metric)
    )
    if state:
        query = query.where(TrainingRun.state == state)
    if cursor:
        value, last_id = _decode(cursor, orderby)
        if descending:
            query = query.where(
                or_(
                    RunMetric.value < value,
                    and_(RunMetric.value == value, TrainingRun.id < last_id),
                )
            )
        else:
            query = query.where(
                or_(
                    RunMetric.value > value,
                    and_(RunMetric.value == value, TrainingRun.id > last_id),
                )
            )
    order = (
        (RunMetric.value.desc(), TrainingRun.id.desc())
        if descending
        else (RunMetric.value.asc(), TrainingRun.id.asc())
    )
    rows = session.execute(query.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(rows[-1][1], rows[-1][0].id, orderby) if more and rows else None
    return Page(items=[row[0] for row in rows], next=next_cursor)
