"""Request and response models of recipes and versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dsw_recipes.models import Recipe, RecipeVersion

ValidationStatus = Literal["pending", "running", "valid", "invalid", "skipped"]


class RecipeOut(BaseModel):
    """A recipe as the API shows it."""

    id: uuid.UUID
    name: str
    description: str
    task_type: str
    builtin: bool
    created: datetime
    updated: datetime
    created_by: str
    version: int = Field(description="Revision counter of the resource (its ETag)")
    latest_version_id: uuid.UUID | None = None
    latest_version: str | None = Field(default=None, description="Newest version's number")

    @classmethod
    def of(cls, recipe: Recipe, latest: RecipeVersion | None = None) -> RecipeOut:
        """The API view of ``recipe``."""
        return cls(
            id=recipe.id,
            name=recipe.name,
            description=recipe.description,
            task_type=recipe.task_type,
            builtin=recipe.builtin,
            created=recipe.created,
            updated=recipe.updated,
            created_by=recipe.created_by,
            version=recipe.version,
            latest_version_id=latest.id if latest else None,
            latest_version=latest.version_name if latest else None,
        )


class ValidationOut(BaseModel):
    """The smoke run's verdict on a version."""

    status: ValidationStatus = Field(
        description="pending (queued), running, valid, invalid, skipped (not smoke-run)"
    )
    mode: Literal["sample", "contract"] | None = Field(
        default=None,
        description="sample: trained and scored on a tiny sample; contract: imported and "
        "checked only (the package names no sample)",
    )
    error: str | None = None
    output: str | None = Field(default=None, description="Last lines of the run's output")
    metrics: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    validated_at: datetime | None = None


class VersionOut(BaseModel):
    """An immutable recipe version."""

    id: uuid.UUID
    recipe_id: uuid.UUID
    version: str = Field(description="The manifest's version number")
    content_hash: str = Field(description="sha256 of the normalised file tree")
    source: Literal["builtin", "upload", "git"]
    source_url: str | None
    git_ref: str | None
    git_commit: str | None
    entry_point: str
    manifest: dict[str, Any]
    smoke: dict[str, Any]
    warnings: list[str]
    package_bytes: int
    file_count: int
    status: Literal["active", "deprecated"]
    deprecated_at: datetime | None
    validation: ValidationOut
    created: datetime
    created_by: str
    revision: int = Field(description="Revision counter (the ETag)")

    @classmethod
    def of(cls, version: RecipeVersion) -> VersionOut:
        """The API view of ``version``."""
        status = version.validation_status
        if status == "pending" and version.lease_owner is not None:
            status = "running"
        return cls(
            id=version.id,
            recipe_id=version.recipe_id,
            version=version.version_name,
            content_hash=version.content_hash,
            source=version.source,
            source_url=version.source_url,
            git_ref=version.git_ref,
            git_commit=version.git_commit,
            entry_point=version.entry_point,
            manifest=dict(version.manifest),
            smoke=dict(version.smoke),
            warnings=list(version.check_warnings),
            package_bytes=version.package_bytes,
            file_count=version.file_count,
            status=version.status,
            deprecated_at=version.deprecated_at,
            validation=ValidationOut(
                status=status,
                mode=version.validation_mode,
                error=version.validation_error,
                output=version.validation_output,
                metrics=dict(version.validation_metrics),
                attempts=version.attempts,
                validated_at=version.validated_at,
            ),
            created=version.created,
            created_by=version.created_by,
            revision=version.version,
        )


class GitImport(BaseModel):
    """Register a recipe from a git repository."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="https:// repository URL")
    ref: str = Field(
        default="main", min_length=1, max_length=255, description="Branch, tag or commit id"
    )


class UploadFingerprint(BaseModel):
    """What identifies an upload request (for Idempotency-Key replay checks)."""

    sha256: str
    filename: str | None = None


class ParamsValidate(BaseModel):
    """A parameter set to check against a version's hyperparameter spec."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    coerce: bool = Field(
        default=False, description="Parse string values into the declared types first"
    )


class ParamsValid(BaseModel):
    """A valid parameter set, completed with the defaults."""

    valid: Literal[True] = True
    params: dict[str, Any]
