"""Settings of the recipes service (``DSW_RECIPES_`` prefix)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class RecipesSettings(ServiceSettings):
    """Recipes settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_RECIPES_", extra="ignore")

    service: str = "recipes"
    port: int = 8102
