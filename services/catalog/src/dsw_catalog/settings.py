"""Settings of the catalog service (``DSW_CATALOG_`` prefix)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Catalog settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_CATALOG_", extra="ignore")

    service: str = "catalog"
    port: int = 8101
