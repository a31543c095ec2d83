"""Settings of the scoring service (``DSW_SCORING_`` prefix)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Scoring settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_SCORING_", extra="ignore")

    service: str = "scoring"
    port: int = 8104
