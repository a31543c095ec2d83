"""Settings of the training service (``DSW_TRAINING_`` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.sandbox import SandboxSetting
from dsw_kit.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    """Training settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_TRAINING_", extra="ignore")

    service: str = "training"
    port: int = 8103
    catalog_url: str = Field(
        "http://127.0.0.1:8101", description="Base URL of the catalog service's API"
    )
    recipes_url: str = Field(
        "http://127.0.0.1:8102", description="Base URL of the recipes service's API"
    )
    call_timeout_seconds: float = Field(
        10.0, description="Timeout of calls to the catalog and recipes services"
    )
    run_lease_seconds: float = Field(
        30.0, description="Lease of a training run being executed (renewed by heartbeat)"
    )
    run_max_attempts: int = Field(
        3, description="Attempts of a run (a worker that died counts as one) before it fails"
    )
    run_poll_seconds: float = Field(
        2.0, description="How often idle training workers look for runs"
    )
    run_time_limit_seconds: float = Field(
        3600.0, description="Wall time a run's training process may take before it is killed"
    )
    run_memory_limit_mb: int = Field(
        8192, description="Address-space limit (MiB) of a run's training process (RLIMIT_AS)"
    )
    run_threads: int = Field(
        2, description="Threads a run's training process may use (OMP_NUM_THREADS)"
    )
    run_passed_environment: list[str] = Field(
        default_factory=lambda: ["PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "AWS_*"],
        description=(
            "Environment variables (a trailing * matches a prefix) the training process "
            "inherits; nothing else is passed (no tokens, no database URLs)"
        ),
    )
    sandbox: SandboxSetting = Field(
        "auto",
        description="Where training processes run recipe code: bwrap (no network, only the "
        "run's own files; refuse to start without it), none (no isolation: trusted code only) "
        "or auto (bwrap when it works on this host, else none with a warning)",
    )
    sandbox_max_processes: int = Field(
        512, description="Processes and threads a sandboxed training process may have"
    )
    progress_write_seconds: float = Field(
        1.0, description="Least time between progress writes to a run's row"
    )
    progress_event_seconds: float = Field(
        5.0, description="Least time between run progress events (stage changes always publish)"
    )
    cancel_poll_seconds: float = Field(
        1.0, description="How often a worker checks whether its run was cancelled"
    )
    log_sync_seconds: float = Field(
        2.0, description="How often a running run's log is copied to the lake"
    )
    log_tail_lines: int = Field(40, description="Last log lines kept with a failed run's error")
    sweep_poll_seconds: float = Field(
        1.0, description="How often a sweep driver looks at its sweep's trials"
    )
    sweep_lease_seconds: float = Field(30.0, description="Lease of a sweep held by its driver")
    sweep_max_attempts: int = Field(
        10, description="Times a sweep may be taken over after its driver died before it fails"
    )
    schedule_poll_seconds: float = Field(
        15.0, description="How often the schedule ticker looks for due schedules and new data"
    )
    work_dir: Path | None = Field(
        None, description="Scratch folder of training processes; <home>/training-work when unset"
    )

    @property
    def resolved_work_dir(self) -> Path:
        """The scratch folder of training processes (created on demand)."""
        folder = self.work_dir or self.platform.resolved_home / "training-work"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
