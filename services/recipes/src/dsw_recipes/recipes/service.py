"""Use cases of recipes and versions: they add and flush, the request boundary commits."""

from __future__ import annotations

import uuid
from typing import Any

from dsw_recipe import Param, ParamSpec, ParamValidationError

from dsw_contracts import (
    RecipeVersionDeprecated,
    RecipeVersionRegistered,
    RecipeVersionRequested,
)
from dsw_kit.db import utcnow
from dsw_kit.errors import Conflict, FieldError, NotFound, UnprocessableEntity
from dsw_kit.lake import Lake
from dsw_kit.web import UnitOfWork
from dsw_recipes.models import Recipe, RecipeVersion
from dsw_recipes.packages import storage
from dsw_recipes.packages.prepare import PackageRejected, PreparedPackage
from dsw_recipes.recipes import repository


def get_recipe(work: UnitOfWork, recipe_id: uuid.UUID) -> Recipe:
    """A recipe the tenant sees (its own or a built-in), or 404."""
    recipe = repository.get_recipe(work.session, work.tenant, recipe_id)
    if recipe is None:
        raise NotFound(f"recipe {recipe_id} not found", code="recipe_not_found")
    return recipe


def get_version(work: UnitOfWork, recipe_id: uuid.UUID, version_id: uuid.UUID) -> RecipeVersion:
    """A version the tenant sees, or 404."""
    version = repository.get_version(work.session, work.tenant, recipe_id, version_id)
    if version is None:
        raise NotFound(
            f"version {version_id} of recipe {recipe_id} not found", code="version_not_found"
        )
    return version


def rejected(error: PackageRejected) -> UnprocessableEntity:
    """The 422 of a package that fails its checks, one entry per problem."""
    return UnprocessableEntity(
        f"the package was refused: {error.problems[0]}"
        + (f" (and {len(error.problems) - 1} more)" if len(error.problems) > 1 else ""),
        code=error.code,
        errors=[
            FieldError(pointer="/package", message=problem, code=error.code)
            for problem in error.problems
        ],
    )


def find_registered(work: UnitOfWork, prepared: PreparedPackage) -> RecipeVersion | None:
    """The tenant's version with exactly this content, if it was registered before."""
    recipe = repository.own_recipe_by_name(work.session, prepared.manifest.name)
    if recipe is None:
        return None
    return repository.own_version_by_hash(work.session, recipe.id, prepared.tree.content_hash)


def register(
    work: UnitOfWork,
    lake: Lake,
    prepared: PreparedPackage,
    *,
    source: str,
    source_url: str | None = None,
    git_ref: str | None = None,
) -> tuple[RecipeVersion, bool]:
    """Register a checked package; ``(version, created)``.

    Identical content returns the existing version. Another content under a version number
    already registered is a conflict: versions are immutable.
    """
    manifest = prepared.manifest
    session = work.session
    if manifest.name in repository.builtin_names(session):
        raise Conflict(
            f"{manifest.name!r} is the name of a built-in recipe; choose another name",
            code="recipe_name_reserved",
        )
    existing = find_registered(work, prepared)
    if existing is not None:
        return existing, False
    recipe = repository.own_recipe_by_name(session, manifest.name)
    if recipe is None:
        recipe = Recipe(
            name=manifest.name,
            description=manifest.description,
            task_type=str(manifest.task_type or "custom"),
            builtin=False,
            created_by=work.context.subject,
        )
        session.add(recipe)
        session.flush()
    elif repository.own_version_by_name(session, recipe.id, manifest.version) is not None:
        raise Conflict(
            f"version {manifest.version} of {manifest.name!r} is already registered with other "
            "content; versions are immutable, so bump the version in recipe.toml",
            code="version_exists",
        )
    else:
        recipe.description = manifest.description or recipe.description
        if manifest.task_type is not None:
            recipe.task_type = str(manifest.task_type)
    version_id = uuid.uuid4()
    path = storage.package_path(lake, work.tenant, version_id)
    version = RecipeVersion(
        id=version_id,
        recipe_id=recipe.id,
        version_name=manifest.version,
        content_hash=prepared.tree.content_hash,
        source=source,
        source_url=source_url,
        git_ref=git_ref,
        git_commit=prepared.git_commit,
        entry_point=manifest.entry_point,
        manifest=manifest.to_dict(),
        smoke=prepared.smoke,
        params_schema={},
        check_warnings=prepared.warnings,
        package_path=path,
        package_bytes=len(prepared.packed),
        file_count=prepared.tree.file_count,
        validation_status="pending",
        created_by=work.context.subject,
    )
    session.add(version)
    session.flush()
    # Stored before the commit: a failed commit leaves an unreferenced file, never a version
    # without its package.
    storage.store(lake, path, prepared.packed)
    announce_registered(work, recipe, version)
    return version, True


def announce_registered(work: UnitOfWork, recipe: Recipe, version: RecipeVersion) -> None:
    """Publish the registration and the command that wakes a smoke worker."""
    work.publish(
        "dsw.recipes.version.registered",
        str(version.id),
        RecipeVersionRegistered(
            recipe_id=str(recipe.id),
            version_id=str(version.id),
            name=recipe.name,
            version=version.version_name,
            content_hash=version.content_hash,
            source=version.source,
        ),
    )
    work.publish(
        "dsw.recipes.version.requested",
        str(version.id),
        RecipeVersionRequested(recipe_id=str(recipe.id), version_id=str(version.id)),
    )


def _refuse_builtin_and_used(work: UnitOfWork, version: RecipeVersion, action: str) -> None:
    if version.org_id != work.tenant.org_id or version.sandbox != work.tenant.sandbox:
        raise Conflict(
            f"built-in recipe versions cannot be {action}", code="builtin_recipe_readonly"
        )
    used_by = repository.models_using(work.session, version.id)
    if used_by:
        count = repository.usage_count(work.session, version.id)
        raise Conflict(
            f"the version is used by {count} model(s) ({', '.join(used_by[:5])}); "
            f"delete or move them to another version before it can be {action}",
            code="version_in_use",
        )


def deprecate(work: UnitOfWork, version: RecipeVersion) -> RecipeVersion:
    """Mark a version deprecated (still readable; new models should not pick it)."""
    _refuse_builtin_and_used(work, version, "deprecated")
    if version.status == "deprecated":
        return version
    version.status = "deprecated"
    version.deprecated_at = utcnow()
    work.session.flush()
    work.publish(
        "dsw.recipes.version.deprecated",
        str(version.id),
        RecipeVersionDeprecated(
            recipe_id=str(version.recipe_id), version_id=str(version.id), change="deprecated"
        ),
    )
    return version


def delete(work: UnitOfWork, lake: Lake, version: RecipeVersion) -> None:
    """Delete a version and its package."""
    _refuse_builtin_and_used(work, version, "deleted")
    path = version.package_path
    work.session.delete(version)
    work.session.flush()
    work.publish(
        "dsw.recipes.version.deleted",
        str(version.id),
        RecipeVersionDeprecated(
            recipe_id=str(version.recipe_id), version_id=str(version.id), change="deleted"
        ),
    )
    if path is not None:
        storage.remove(lake, path)


def spec_of(version: RecipeVersion) -> ParamSpec:
    """The version's hyperparameter spec, rebuilt from the JSON Schema recorded for it."""
    schema = version.params_schema
    if not schema:
        if version.validation_status in ("pending", "skipped"):
            raise Conflict(
                "the parameter spec of this version is known once its smoke run has imported "
                "it; retry when validation.status is valid",
                code="params_spec_pending",
            )
        raise Conflict(
            "the parameter spec of this version is unavailable: its smoke run could not "
            "import it (see validation.error)",
            code="params_spec_unavailable",
        )
    return spec_from_schema(schema)


def spec_from_schema(schema: dict[str, Any]) -> ParamSpec:
    """A :class:`ParamSpec` from the JSON Schema ``ParamSpec.to_json_schema`` produced."""
    params = []
    for name, field in schema.get("properties", {}).items():
        exclusive_min = "exclusiveMinimum" in field
        exclusive_max = "exclusiveMaximum" in field
        choices = field.get("enum")
        params.append(
            Param(
                name,
                field["type"],
                field["default"],
                field.get("description", ""),
                minimum=field.get("exclusiveMinimum" if exclusive_min else "minimum"),
                maximum=field.get("exclusiveMaximum" if exclusive_max else "maximum"),
                exclusive_minimum=exclusive_min,
                exclusive_maximum=exclusive_max,
                choices=tuple(choices) if choices is not None else None,
            )
        )
    return ParamSpec(tuple(params))


def validate_params(
    version: RecipeVersion, values: dict[str, Any], *, coerce: bool
) -> dict[str, Any]:
    """The complete parameter set, or a 422 listing each invalid field."""
    try:
        return spec_of(version).validate(values, coerce=coerce)
    except ParamValidationError as error:
        raise UnprocessableEntity(
            f"{len(error.errors)} invalid parameter(s)",
            code="invalid_params",
            errors=[
                FieldError(
                    pointer="/params/" + item.field.replace("~", "~0").replace("/", "~1"),
                    message=item.message,
                    code="invalid_param",
                )
                for item in error.errors
            ],
        ) from error
