"""Settings of the scoring service (``DSW_SCORING_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Scoring settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_SCORING_", extra="ignore")

    service: str = "scoring"
    port: int = 8104
    catalog_url: str = Field(
        "http://127.0.0.1:8101", description="Base URL of the catalog service's API"
    )
    training_url: str = Field(
        "http://127.0.0.1:8103", description="Base URL of the training service's API"
    )
    call_timeout_seconds: float = Field(
        30.0, description="Timeout of calls to the catalog and training services"
    )
    run_lease_seconds: float = Field(
        30.0, description="Lease of a scoring run being executed (renewed by heartbeat)"
    )
    run_max_attempts: int = Field(
        3,
        description="Attempts of a scoring run (a worker that died counts as one) before it fails",
    )
    run_poll_seconds: float = Field(2.0, description="How often idle scoring workers look for runs")
    chunk_rows: int = Field(
        262_144,
        ge=1,
        description="Rows read, scored and written at a time (bounds a worker's memory)",
    )
    progress_write_seconds: float = Field(
        1.0, description="Least time between progress writes to a run's row"
    )
    cancel_poll_seconds: float = Field(
        1.0, description="How often a worker checks whether its run was cancelled"
    )
    register_timeout_seconds: float = Field(
        1800.0, description="How long a worker waits for the catalog to ingest a run's output"
    )
    register_poll_seconds: float = Field(
        0.5, description="How often a worker asks the catalog whether the output batch is in"
    )
    model_cache_size: int = Field(
        2, ge=1, description="Loaded models a worker keeps in memory for the next runs"
    )
    schedule_poll_seconds: float = Field(
        15.0, description="How often the scheduler looks for due cron schedules"
    )
