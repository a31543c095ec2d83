"""Settings of the serving service (``DSW_SERVING_`` prefix)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class ServingSettings(ServiceSettings):
    """Serving settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_SERVING_", extra="ignore")

    service: str = "serving"
    port: int = 8105
