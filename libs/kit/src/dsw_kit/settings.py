"""Settings shared by every service.

Every service has one settings class (its own ``DSW_<SERVICE>_`` prefix) that embeds the
platform-wide settings (``DSW_`` prefix). Both read the environment, so an operator can override
anything.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AuthSettings", "PlatformSettings", "ServiceSettings"]

_PLACEHOLDER_SECRETS = {"", "changeme", "secret", "change-me"}


class AuthSettings(BaseSettings):
    """How bearer tokens are verified (``DSW_AUTH_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="DSW_AUTH_", extra="ignore")

    algorithm: Literal["HS256", "RS256"] = "HS256"
    # HS256: the shared secret. When unset, a secret is generated into the data home on first run.
    secret: str | None = None
    # RS256: a PEM public key, or a JWKS URL to fetch keys from (takes precedence).
    public_key: str | None = None
    jwks_url: str | None = None
    # RS256 signing key, only needed by a process that issues tokens (the embedded stack, tests).
    private_key: str | None = None
    issuer: str = "dsw"
    audience: str = "dsw"
    token_ttl_seconds: int = 3600
    leeway_seconds: int = 30


class PlatformSettings(BaseSettings):
    """Settings common to all services (``DSW_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="DSW_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    home: Path = Path(".dsw")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_client_id: str = "dsw"
    # Partition count of every topic the platform creates.
    kafka_partitions: int = 4
    lake_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @property
    def resolved_home(self) -> Path:
        """The data home as an absolute path (created on demand)."""
        home = self.home.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def resolved_lake_uri(self) -> str:
        """The data lake URI: ``file://<home>/lake`` unless configured."""
        if self.lake_uri:
            return self.lake_uri
        return (self.resolved_home / "lake").as_uri()

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI: a SQLite store under the data home unless configured."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.resolved_home / 'mlflow' / 'mlflow.db'}"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> PlatformSettings:
        secret = self.auth.secret
        weak = secret is None or secret.strip().lower() in _PLACEHOLDER_SECRETS or len(secret) < 32
        if self.environment == "production" and self.auth.algorithm == "HS256" and weak:
            raise ValueError(
                "DSW_AUTH_SECRET must be set to a random value of at least 32 characters "
                "in production (or use DSW_AUTH_ALGORITHM=RS256)"
            )
        return self


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set ``env_prefix`` and the ``service`` name."""

    model_config = SettingsConfigDict(extra="ignore")

    service: str = "service"
    host: str = "127.0.0.1"
    port: int = 8000
    # SQLAlchemy URL; a SQLite file under the data home when unset.
    database_url: str | None = None
    # How often the outbox relay looks for unsent events when nothing woke it up.
    outbox_poll_seconds: float = 0.5
    # Run the outbox relay inside the API process (embedded default); production may run it apart.
    embedded_relay: bool = True
    # Apply migrations when the API starts (embedded default); production runs the migrate job.
    migrate_on_start: bool = True
    # Maximum request body for JSON endpoints (uploads have their own limits).
    max_body_bytes: int = 10 * 1024 * 1024
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @property
    def resolved_database_url(self) -> str:
        """The database URL: ``sqlite:///<home>/<service>.db`` unless configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.platform.resolved_home / (self.service + '.db')}"


def generate_secret() -> str:
    """A fresh random secret suitable for HS256."""
    return secrets.token_urlsafe(48)
