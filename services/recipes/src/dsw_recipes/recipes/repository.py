"""Queries on recipes and versions.

Tenant scoping is applied by the session (see dsw_kit.db) except for one deliberate widening:
built-in recipes are platform-owned rows that every tenant reads. :func:`_visible` is the only
place that widens a query, and only to the platform's rows; writes never go through it.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from dsw_kit.db import Tenant
from dsw_recipes.models import PLATFORM_ORG, PLATFORM_SANDBOX, Recipe, RecipeUsage, RecipeVersion

S = TypeVar("S", bound=Select[Any])


def _owned_or_builtin(
    model: type[Recipe] | type[RecipeVersion], tenant: Tenant
) -> ColumnElement[bool]:
    return or_(
        and_(model.org_id == tenant.org_id, model.sandbox == tenant.sandbox),
        and_(model.org_id == PLATFORM_ORG, model.sandbox == PLATFORM_SANDBOX),
    )


def _visible(statement: S, tenant: Tenant, *models: type[Recipe] | type[RecipeVersion]) -> S:
    widened = statement.execution_options(include_all_tenants=True)
    for model in models:
        widened = widened.where(_owned_or_builtin(model, tenant))
    return widened


def recipes(
    tenant: Tenant,
    *,
    name: str | None = None,
    task_type: str | None = None,
    builtin: bool | None = None,
) -> Select[Recipe]:
    """A select of the recipes the tenant sees (its own and the built-ins)."""
    query = _visible(select(Recipe), tenant, Recipe)
    if name:
        query = query.where(Recipe.name.contains(name, autoescape=True))
    if task_type:
        query = query.where(Recipe.task_type == task_type)
    if builtin is not None:
        query = query.where(Recipe.builtin.is_(builtin))
    return query


def get_recipe(session: Session, tenant: Tenant, recipe_id: uuid.UUID) -> Recipe | None:
    """A recipe the tenant sees."""
    return session.scalar(_visible(select(Recipe).where(Recipe.id == recipe_id), tenant, Recipe))


def versions(
    tenant: Tenant, recipe_id: uuid.UUID, *, status: str | None = None
) -> Select[RecipeVersion]:
    """A select of a visible recipe's versions."""
    query = _visible(
        select(RecipeVersion).where(RecipeVersion.recipe_id == recipe_id), tenant, RecipeVersion
    )
    if status:
        query = query.where(RecipeVersion.status == status)
    return query


def get_version(
    session: Session, tenant: Tenant, recipe_id: uuid.UUID, version_id: uuid.UUID
) -> RecipeVersion | None:
    """A version the tenant sees."""
    query = select(RecipeVersion).where(
        RecipeVersion.id == version_id, RecipeVersion.recipe_id == recipe_id
    )
    return session.scalar(_visible(query, tenant, RecipeVersion))


def latest_versions(
    session: Session, tenant: Tenant, recipe_ids: list[uuid.UUID]
) -> dict[uuid.UUID, RecipeVersion]:
    """The newest version of each recipe (by creation)."""
    if not recipe_ids:
        return {}
    query = _visible(
        select(RecipeVersion)
        .where(RecipeVersion.recipe_id.in_(recipe_ids))
        .order_by(RecipeVersion.created),
        tenant,
        RecipeVersion,
    )
    return {version.recipe_id: version for version in session.scalars(query)}


def builtin_names(session: Session) -> set[str]:
    """Names taken by built-in recipes."""
    query = select(Recipe.name).where(Recipe.builtin.is_(True), Recipe.org_id == PLATFORM_ORG)
    return set(session.scalars(query.execution_options(include_all_tenants=True)))


def own_recipe_by_name(session: Session, name: str) -> Recipe | None:
    """The session tenant's custom recipe called ``name``."""
    return session.scalar(select(Recipe).where(Recipe.name == name))


def own_version_by_hash(
    session: Session, recipe_id: uuid.UUID, content_hash: str
) -> RecipeVersion | None:
    """The tenant's version of ``recipe_id`` with this content."""
    return session.scalar(
        select(RecipeVersion).where(
            RecipeVersion.recipe_id == recipe_id, RecipeVersion.content_hash == content_hash
        )
    )


def own_version_by_name(
    session: Session, recipe_id: uuid.UUID, version_name: str
) -> RecipeVersion | None:
    """The tenant's version ``version_name`` of ``recipe_id``."""
    return session.scalar(
        select(RecipeVersion).where(
            RecipeVersion.recipe_id == recipe_id, RecipeVersion.version_name == version_name
        )
    )


def models_using(session: Session, version_id: uuid.UUID) -> list[str]:
    """Ids of the tenant's models that use the version (from the usage read model)."""
    query = (
        select(RecipeUsage.model_id)
        .where(RecipeUsage.version_id == str(version_id))
        .order_by(RecipeUsage.model_id)
        .limit(20)
    )
    return list(session.scalars(query))


def usage_count(session: Session, version_id: uuid.UUID) -> int:
    """How many of the tenant's models use the version."""
    query = select(func.count()).where(RecipeUsage.version_id == str(version_id))
    return int(session.scalar(query.select_from(RecipeUsage)) or 0)
