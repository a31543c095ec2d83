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

    algorithm: Literal["HS256", "RS256"] = Field("HS256", description="Token signature algorithm")
    secret: str | None = Field(
        None, description="HS256 shared secret; generated into the data home when unset"
    )
    public_key: str | None = Field(None, description="RS256 public key (PEM)")
    jwks_url: str | None = Field(None, description="RS256 JWKS URL (takes precedence)")
    private_key: str | None = Field(
        None, description="RS256 signing key, only for processes that issue tokens"
    )
    issuer: str = Field("dsw", description="Expected iss claim")
    audience: str = Field("dsw", description="Expected aud claim")
    token_ttl_seconds: int = Field(3600, description="Lifetime of tokens the platform issues")
    leeway_seconds: int = Field(30, description="Clock skew tolerated on exp/nbf")


class PlatformSettings(BaseSettings):
    """Settings common to all services (``DSW_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="DSW_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets"
    )
    home: Path = Field(
        Path("~/.dsw"), description="Data home: SQLite files, lake, MLflow, secrets, logs"
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_client_id: str = Field("dsw", description="Client id prefix towards Kafka")
    kafka_group_prefix: str = Field(
        "", description="Prefix of consumer group ids (installations sharing one Kafka)"
    )
    kafka_partitions: int = Field(4, description="Partitions of every topic the platform creates")
    lake_uri: str | None = Field(None, description="Lake URI (file:// or s3://); <home>/lake")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; a SQLite store under the data home when unset"
    )
    log_level: str = Field("INFO", description="Log level of every process")
    log_json: bool = Field(True, description="JSON log lines (true) or plain text (false)")
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

    service: str = Field("service", description="Name of the service")
    host: str = Field("127.0.0.1", description="Address the API listens on")
    port: int = Field(8000, description="Port the API listens on")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; sqlite:///<home>/<service>.db when unset"
    )
    outbox_poll_seconds: float = Field(
        0.5, description="How often the relay looks for unsent events when not woken"
    )
    embedded_relay: bool = Field(True, description="Run the outbox relay in the API process")
    embedded_workers: bool = Field(
        True, description="Run the service's consumers and reconcilers in the API process"
    )
    migrate_on_start: bool = Field(
        True, description="Apply migrations when the API starts (production: migrate job)"
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, description="Largest JSON request body (uploads have their own limit)"
    )
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
