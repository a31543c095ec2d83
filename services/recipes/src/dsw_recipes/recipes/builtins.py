"""The built-in recipes, registered at start-up as platform-owned rows every tenant reads.

Why rows rather than answers computed from code: versions, their smoke-run verdicts, usage
checks and pagination then work the same way for built-in and custom recipes, and ids are
stable (derived from name and version) across deployments, so models in the training service
can reference a built-in version like any other.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dsw_recipe import Recipe as RecipeClass
from dsw_recipe import builtin_recipes
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from dsw_kit.app import ServiceRuntime
from dsw_recipes.models import PLATFORM_ORG, PLATFORM_SANDBOX, Recipe, RecipeVersion
from dsw_recipes.settings import RecipesSettings

logger = logging.getLogger("dsw.recipes.builtins")
_NAMESPACE = uuid.UUID("6f1f6b8e-3a51-4c55-9d0e-6d8a2f0c7b21")


def recipe_id(name: str) -> uuid.UUID:
    """The stable id of the built-in recipe ``name``."""
    return uuid.uuid5(_NAMESPACE, f"recipe:{name}")


def version_id(name: str, version: str) -> uuid.UUID:
    """The stable id of version ``version`` of the built-in recipe ``name``."""
    return uuid.uuid5(_NAMESPACE, f"version:{name}@{version}")


def content_hash(recipe: type[RecipeClass[Any]]) -> str:
    """sha256 over the recipe's module source and its declarations."""
    digest = hashlib.sha256()
    digest.update(inspect.getsource(inspect.getmodule(recipe) or recipe).encode())
    digest.update(json.dumps(recipe.describe(), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def register_builtins(runtime: ServiceRuntime) -> int:
    """Insert or refresh the built-in recipes; how many versions were added or changed."""
    settings = runtime.settings
    assert isinstance(settings, RecipesSettings)
    changed = 0
    for name, recipe in sorted(builtin_recipes().items()):
        try:
            with runtime.database.system_session() as session:
                changed += _upsert(session, name, recipe, smoke=settings.smoke_builtins)
        except IntegrityError:
            # Another instance registered it at the same moment.
            logger.info("built-in recipe %s registered by another instance", name)
    return changed


def _upsert(session: Any, name: str, recipe: type[RecipeClass[Any]], *, smoke: bool) -> int:
    platform = {"org_id": PLATFORM_ORG, "sandbox": PLATFORM_SANDBOX}
    row = session.scalar(select(Recipe).where(Recipe.id == recipe_id(name)))
    if row is None:
        row = Recipe(
            id=recipe_id(name),
            name=name,
            description=recipe.description,
            task_type=str(recipe.task_type),
            builtin=True,
            created_by="platform",
            **platform,
        )
        session.add(row)
        session.flush()
    described = recipe.describe()
    digest = content_hash(recipe)
    version = session.scalar(
        select(RecipeVersion).where(RecipeVersion.id == version_id(name, recipe.version))
    )
    status = "pending" if smoke else "skipped"
    if version is not None:
        if version.content_hash == digest:
            return 0
        # The platform's code changed under the same version number (a development build).
        logger.warning("built-in recipe %s %s changed; re-validating", name, recipe.version)
        version.content_hash = digest
        version.params_schema = described["params"]
        version.manifest = _manifest(recipe)
        version.validation_status, version.attempts = status, 0
        version.validation_error = version.validation_output = None
        return 1
    session.add(
        RecipeVersion(
            id=version_id(name, recipe.version),
            recipe_id=row.id,
            version_name=recipe.version,
            content_hash=digest,
            source="builtin",
            entry_point=recipe.entry_point(),
            manifest=_manifest(recipe),
            smoke={},
            params_schema=described["params"],
            check_warnings=[],
            package_path=None,
            validation_status=status,
            created_by="platform",
            **platform,
        )
    )
    return 1


def _manifest(recipe: type[RecipeClass[Any]]) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "version": recipe.version,
        "entry_point": recipe.entry_point(),
        "description": recipe.description,
        "task_type": str(recipe.task_type),
        "python_path": ".",
        "requires": [],
    }


@asynccontextmanager
async def builtins_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Register the built-ins once the service's own start-up (migrations) is done."""
    runtime: ServiceRuntime = app.state.runtime
    added = await run_in_threadpool(register_builtins, runtime)
    logger.info("built-in recipes registered (%d new or changed)", added)
    yield
