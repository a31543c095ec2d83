"""Settings of the training service (``DSW_TRAINING_`` prefix)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    """Training settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_TRAINING_", extra="ignore")

    service: str = "training"
    port: int = 8103
