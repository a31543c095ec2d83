from __future__ import annotations

import pytest
from pydantic import ValidationError

from dsw_kit.settings import AuthSettings, PlatformSettings


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="DSW_AUTH_SECRET"):
        PlatformSettings(environment="production", auth=AuthSettings(secret="changeme"))
    PlatformSettings(environment="production", auth=AuthSettings(secret="s" * 40))
    PlatformSettings(environment="production", auth=AuthSettings(algorithm="RS256"))


def test_environment_overrides_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSW_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("DSW_AUTH_ISSUER", "corp")
    settings = PlatformSettings()
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.auth.issuer == "corp"
