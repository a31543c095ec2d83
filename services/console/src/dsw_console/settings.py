"""Settings of the web console (``DSW_CONSOLE_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings

SERVICES = ("catalog", "recipes", "training", "scoring", "serving")


class ConsoleSettings(ServiceSettings):
    """Console settings; platform-wide ones (``DSW_``) are under ``platform``.

    The console has no database: the inherited database, relay and migration settings are unused.
    """

    model_config = SettingsConfigDict(env_prefix="DSW_CONSOLE_", extra="ignore")

    service: str = "console"
    port: int = 8106
    catalog_url: str = Field("http://127.0.0.1:8101", description="Base URL of the catalog API")
    recipes_url: str = Field("http://127.0.0.1:8102", description="Base URL of the recipes API")
    training_url: str = Field("http://127.0.0.1:8103", description="Base URL of the training API")
    scoring_url: str = Field("http://127.0.0.1:8104", description="Base URL of the scoring API")
    serving_url: str = Field("http://127.0.0.1:8105", description="Base URL of the serving API")
    mlflow_url: str = Field(
        "",
        description=(
            "Base URL of the MLflow UI as the browser reaches it; the console links each model "
            "and run to its page there (empty: no links)"
        ),
    )
    call_timeout_seconds: float = Field(
        15.0, description="Timeout of the console's calls to the platform's APIs"
    )
    dev_login: bool | None = Field(
        None,
        description=(
            "Offer the 'dev login' button that mints an all-scopes token with the platform's key "
            "(default: on in development, off in production)"
        ),
    )
    dev_token_ttl_seconds: int = Field(
        12 * 3600, description="Lifetime of the tokens the dev login mints"
    )
    cookie_secure: bool = Field(
        False, description="Mark the session cookies Secure (set when served over HTTPS)"
    )
    max_upload_bytes: int = Field(
        2 * 1024**3, description="Largest file the console accepts for a dataset upload"
    )
    histogram_sample_rows: int = Field(
        1000,
        description=(
            "Rows sampled from a dataset (spread over its time range when it has a timestamp "
            "field) to draw its histograms (max 1000)"
        ),
    )
    ready_requires: list[str] = Field(
        default_factory=lambda: list(SERVICES),
        description="APIs that must answer /healthz for the console's /readyz to be ready",
    )

    @property
    def dev_login_enabled(self) -> bool:
        """Whether the dev login is offered."""
        if self.dev_login is not None:
            return self.dev_login
        return self.platform.environment == "development"

    def api_urls(self) -> dict[str, str]:
        """Base URL of each platform API by service name."""
        return {
            "catalog": self.catalog_url,
            "recipes": self.recipes_url,
            "training": self.training_url,
            "scoring": self.scoring_url,
            "serving": self.serving_url,
        }
