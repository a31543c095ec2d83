"""Cursor pagination: ``limit`` + opaque ``cursor`` + ``orderby``, envelope ``{items, next}``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from dsw_kit.errors import BadRequest

__all__ = ["Page", "PageParams", "paginate"]

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page, if there is one."""

    items: list[T]
    next: str | None = None


class PageParams:
    """Query parameters of every list endpoint."""

    def __init__(
        self,
        limit: int = Query(25, ge=1, le=100, description="Items per page (max 100)"),
        cursor: str | None = Query(None, description="Opaque cursor from a previous page's next"),
        orderby: str | None = Query(
            None, description="Sort field, '-' prefix for descending (e.g. -created)"
        ),
    ) -> None:
        self.limit = limit
        self.cursor = cursor
        self.orderby = orderby


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, default=str).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value
    except ValueError as error:
        raise BadRequest("the cursor is not valid", code="invalid_cursor") from error


def _restore(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    python_type = column.type.python_type
    if value is None:
        return None
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    return value


def paginate(
    session: Session,
    statement: Select[Any],
    *,
    params: PageParams,
    sortable: Mapping[str, InstrumentedAttribute[Any]],
    tiebreaker: InstrumentedAttribute[Any],
    default_orderby: str = "-created",
    to_item: Callable[[Any], R],
) -> Page[R]:
    """Keyset pagination of ``statement`` (a select of one entity) ordered by ``params.orderby``."""
    orderby = params.orderby or default_orderby
    descending = orderby.startswith("-")
    field = orderby.lstrip("-+")
    if field not in sortable:
        raise BadRequest(
            f"cannot order by {field!r}; choose one of {sorted(sortable)}", code="invalid_orderby"
        )
    column = sortable[field]
    if params.cursor:
        position = _decode(params.cursor)
        if position.get("o") != orderby:
            raise BadRequest("the cursor belongs to another ordering", code="invalid_cursor")
        value = _restore(position.get("v"), column)
        last_id = _restore(position.get("id"), tiebreaker)
        if descending:
            statement = statement.where(
                or_(column < value, and_(column == value, tiebreaker < last_id))
            )
        else:
            statement = statement.where(
                or_(column > value, and_(column == value, tiebreaker > last_id))
            )
    order = (column.desc(), tiebreaker.desc()) if descending else (column.asc(), tiebreaker.asc())
    rows: Sequence[Any] = session.scalars(statement.order_by(*order).limit(params.limit + 1)).all()
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = _encode(
            {"o": orderby, "v": getattr(last, column.key), "id": getattr(last, tiebreaker.key)}
        )
    return Page(items=[to_item(row) for row in rows], next=next_cursor)
