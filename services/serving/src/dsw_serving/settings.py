"""Settings of the serving service (``DSW_SERVING_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings


class ServingSettings(ServiceSettings):
    """Serving settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_SERVING_", extra="ignore")

    service: str = "serving"
    port: int = 8105
    training_url: str = Field(
        "http://127.0.0.1:8103", description="Base URL of the training service's API"
    )
    scoring_url: str = Field(
        "http://127.0.0.1:8104",
        description="Base URL of the scoring service's API (scoring schedules made at publish)",
    )
    call_timeout_seconds: float = Field(30.0, description="Timeout of calls to other services")
    predict_max_body_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest body of a prediction request"
    )
    predict_max_records: int = Field(
        1000, ge=1, description="Most records (rows) in one prediction request"
    )
    predict_max_top_k: int = Field(
        100, ge=1, description="Largest k a predict request may ask of a ranking model"
    )
    inline_predict_rows: int = Field(
        64,
        ge=0,
        description="Requests up to this many rows are predicted on the event loop (a thread "
        "hop costs more than the booster); larger ones in the thread pool",
    )
    model_cache_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Memory budget of loaded models per process (least recently used evicted)",
    )
    state_poll_seconds: float = Field(
        1.0, gt=0, description="How often a process reloads services, revisions, traffic, keys"
    )
    auth_cache_seconds: float = Field(
        30.0, ge=0, description="How long a verified bearer token is trusted without re-checking"
    )
    invocation_sample_rate: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of predictions written to the invocation log"
    )
    invocation_queue_size: int = Field(
        10_000, ge=1, description="Invocations waiting for the broker before new ones are dropped"
    )
    invocation_batch_size: int = Field(
        200, ge=1, description="Invocations per message on the invocations topic"
    )
    invocation_flush_seconds: float = Field(
        0.2, gt=0, description="Longest wait before a partial invocation batch is sent"
    )
    drift_psi_threshold: float = Field(
        0.2, ge=0, description="PSI of predictions above which retraining is advised"
    )
    health_window_seconds: int = Field(
        3600, ge=1, description="Time window of live metrics and drift in the health summary"
    )
    promotion_reconcile_seconds: float = Field(
        30.0,
        gt=0,
        description="How often succeeded runs whose event never arrived are looked for and "
        "judged by automatic promotion",
    )
