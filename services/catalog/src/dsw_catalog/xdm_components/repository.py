"""Queries on tenant XDM components and on what uses them (tenant scoping is the session's)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_catalog.models import XdmComponent, XdmSchema


def all_components(session: Session) -> list[XdmComponent]:
    """Every tenant component, in creation order (the order they can be registered in)."""
    return list(
        session.scalars(select(XdmComponent).order_by(XdmComponent.created, XdmComponent.id))
    )


def components_of_kind(session: Session, kind: str) -> list[XdmComponent]:
    """The tenant's field groups or data types, oldest first."""
    return list(
        session.scalars(
            select(XdmComponent)
            .where(XdmComponent.kind == kind)
            .order_by(XdmComponent.created, XdmComponent.id)
        )
    )


def get(session: Session, component_id: uuid.UUID) -> XdmComponent | None:
    """A component of the tenant by its row id."""
    return session.scalar(select(XdmComponent).where(XdmComponent.id == component_id))


def get_by_xdm_id(session: Session, xdm_id: str) -> XdmComponent | None:
    """A component of the tenant by its `$id`."""
    return session.scalar(select(XdmComponent).where(XdmComponent.xdm_id == xdm_id))


def schemas_using(session: Session, xdm_id: str) -> list[XdmSchema]:
    """Schemas whose current or earlier versions include the component."""
    used = []
    for schema in session.scalars(select(XdmSchema).order_by(XdmSchema.created)):
        snapshots = [schema.components, *(entry["components"] for entry in schema.history)]
        if any(c.get("$id") == xdm_id for snapshot in snapshots for c in snapshot):
            used.append(schema)
    return used
