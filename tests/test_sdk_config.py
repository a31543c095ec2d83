"""Where the SDK looks for its settings: arguments, environment, profile file, embedded stack."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsw
from dsw.config import SERVICES, Config
from dsw_kit.broker import free_port


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DSW_URL", "DSW_TOKEN", "DSW_ORG", "DSW_SANDBOX", "DSW_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for service in SERVICES:
        monkeypatch.delenv(f"DSW_{service.upper()}_URL", raising=False)
        monkeypatch.delenv(f"DSW_{service.upper()}_PORT", raising=False)
    monkeypatch.setenv("DSW_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("DSW_HOME", str(tmp_path / "home"))


def test_embedded_stack_by_default(tmp_path: Path) -> None:
    # The secret a started platform keeps in its data home (the SDK never creates one).
    (tmp_path / "home" / "secrets").mkdir(parents=True)
    (tmp_path / "home" / "secrets" / "jwt-hs256.key").write_text("x" * 48)
    config = Config.load()
    assert config.embedded
    assert config.urls["catalog"] == "http://127.0.0.1:8101"
    assert config.urls["serving"] == "http://127.0.0.1:8105"
    # A development token signed with the data home's secret.
    assert config.headers()["Authorization"].startswith("Bearer ey")


def test_profile_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        """
[profiles.default]
url = "https://dsw.example.com/"
token = "from-profile"
org = "acme"
sandbox = "prod"

[profiles.staging]
training_url = "https://training.staging.example.com"
token = "staging-token"
retries = 1
"""
    )
    config = Config.load()
    assert set(config.urls.values()) == {"https://dsw.example.com"}
    assert not config.embedded
    assert config.headers() == {
        "User-Agent": "dsw-sdk",
        "Authorization": "Bearer from-profile",
        "x-org-id": "acme",
        "x-sandbox-name": "prod",
    }
    staging = Config.load(profile="staging")
    assert staging.urls["training"] == "https://training.staging.example.com"
    assert staging.urls["catalog"] == "http://127.0.0.1:8101"
    assert (staging.token, staging.retries) == ("staging-token", 1)
    monkeypatch.setenv("DSW_TOKEN", "from-env")
    monkeypatch.setenv("DSW_CATALOG_URL", "http://catalog.internal:9000")
    config = Config.load()
    assert config.token == "from-env"
    assert config.urls["catalog"] == "http://catalog.internal:9000"
    assert config.urls["training"] == "https://dsw.example.com"
    assert Config.load(token="argument", org="other").headers()["x-org-id"] == "other"
    with pytest.raises(ValueError, match="no profile 'missing'"):
        Config.load(profile="missing")


def test_unreachable_service_is_one_clear_error() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on
    urls = dict.fromkeys(SERVICES, nobody)
    client = dsw.Client(Config(urls=urls, token="t", embedded=False, backoff=0.001, retries=2))
    with client, pytest.raises(dsw.TransportError) as error:
        client.datasets.get("x")
    assert error.value.message.startswith("service unreachable: catalog")
