"""Request and response models of models (DSW MLInstances)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsw_training.models import TrainingModel, TrainingRun

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class RecipeRef(BaseModel):
    """A recipe version: ids as the recipes service names them, or a built-in's name + version."""

    model_config = ConfigDict(extra="forbid")

    recipe_id: str = Field(min_length=1, max_length=255, examples=["retail-sales"])
    version_id: str = Field(min_length=1, max_length=255, examples=["1.0.0"])


class TimeWindowIn(BaseModel):
    """Train on rows whose time field is within ``[start, end)``; either bound may be open."""

    model_config = ConfigDict(extra="forbid")

    start: datetime | None = None
    end: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindowIn:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class ModelCreate(BaseModel):
    """A new model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=_NAME_PATTERN)
    description: str = Field(default="", max_length=4000)
    recipe: RecipeRef
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Values for the recipe's parameters (others: defaults)"
    )
    dataset_id: uuid.UUID = Field(description="The catalog dataset it trains on")
    input_features: list[str] | None = Field(
        default=None, max_length=500, description="Fields used as inputs (default: the recipe's)"
    )
    target_features: list[str] | None = Field(
        default=None, max_length=50, description="Fields predicted (default: the recipe's)"
    )
    time_window: TimeWindowIn | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)


class ModelUpdate(BaseModel):
    """Changes to a model (omitted fields stay as they are; the recipe is fixed)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=4000)
    hyperparameters: dict[str, Any] | None = None
    dataset_id: uuid.UUID | None = None
    input_features: list[str] | None = Field(default=None, max_length=500)
    target_features: list[str] | None = Field(default=None, max_length=50)
    time_window: TimeWindowIn | None = None
    tags: list[str] | None = Field(default=None, max_length=50)


class AliasOut(BaseModel):
    """A registry alias of the model: which run's registered version it names."""

    run_id: uuid.UUID
    model_version: str
    model_uri: str = Field(description="MLflow URI of exactly this version (models:/name/3)")
    alias_uri: str = Field(
        description="MLflow URI that follows the alias (models:/name@champion, models:/name/latest)"
    )
    updated: datetime | None


class AliasSet(BaseModel):
    """Which run's registered model version an alias should name."""

    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID


class ModelOut(BaseModel):
    """A model."""

    id: uuid.UUID
    name: str
    description: str
    recipe: RecipeRef
    recipe_name: str
    recipe_version: str
    hyperparameters: dict[str, Any]
    dataset_id: str
    input_features: list[str]
    target_features: list[str]
    time_window: TimeWindowIn | None
    experiment_name: str = Field(description="The MLflow experiment of the model's runs")
    registered_model_name: str = Field(description="Name in the MLflow Model Registry")
    aliases: dict[str, AliasOut] = Field(
        description="Registry aliases: latest (the newest succeeded run) and those set by hand"
    )
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    version: int

    @classmethod
    def of(cls, model: TrainingModel, latest: TrainingRun | None = None) -> ModelOut:
        """The API view of ``model``; ``latest`` is its newest succeeded run, if known."""
        window = None
        if model.window_start is not None or model.window_end is not None:
            window = TimeWindowIn(start=model.window_start, end=model.window_end)
        return cls(
            id=model.id,
            name=model.name,
            description=model.description,
            recipe=RecipeRef(recipe_id=model.recipe_id, version_id=model.version_id),
            recipe_name=model.recipe_name,
            recipe_version=model.recipe_version,
            hyperparameters=dict(model.hyperparameters),
            dataset_id=model.dataset_id,
            input_features=list(model.input_features),
            target_features=list(model.target_features),
            time_window=window,
            experiment_name=model.experiment_name,
            registered_model_name=model.registered_model_name,
            aliases=_aliases(model, latest),
            tags=list(model.tags),
            created=model.created,
            updated=model.updated,
            created_by=model.created_by,
            version=model.version,
        )


def _aliases(model: TrainingModel, latest: TrainingRun | None) -> dict[str, AliasOut]:
    name = model.registered_model_name
    found: dict[str, AliasOut] = {}
    if latest is not None and latest.model_version:
        found["latest"] = AliasOut(
            run_id=latest.id,
            model_version=latest.model_version,
            model_uri=f"models:/{name}/{latest.model_version}",
            alias_uri=f"models:/{name}/latest",
            updated=latest.finished_at,
        )
    for alias, target in sorted((model.aliases or {}).items()):
        found[alias] = AliasOut(
            run_id=uuid.UUID(str(target["run_id"])),
            model_version=str(target["model_version"]),
            model_uri=f"models:/{name}/{target['model_version']}",
            alias_uri=f"models:/{name}@{alias}",
            updated=datetime.fromisoformat(target["at"]) if target.get("at") else None,
        )
    return found
