"""The scoring service: batch scoring runs whose predictions land in the catalog."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_scoring import __version__
from dsw_scoring.models import OutboxEvent
from dsw_scoring.runs.api import router as runs_router
from dsw_scoring.runs.worker import scoring_worker
from dsw_scoring.schedules.api import router as schedules_router
from dsw_scoring.schedules.ticker import schedule_runner
from dsw_scoring.settings import ScoringSettings
from dsw_scoring.upstream import Upstreams
from dsw_scoring.warmup import start_warmup

MIGRATIONS = Path(__file__).parent / "migrations"


def spec(settings: ScoringSettings | None = None) -> ServiceSpec:
    """How the scoring service is assembled (every role builds it: ``dsw-scoring api`` too)."""
    # The API resolves models through MLflow and the workers load them: import those now, in
    # the background, rather than while the first run request waits.
    start_warmup()
    return ServiceSpec(
        name="scoring",
        title="DSW Scoring",
        version=__version__,
        description="Batch scoring runs that write predictions back to the catalog as datasets.",
        settings=settings or ScoringSettings(),
        routers=[runs_router, schedules_router],
        outbox_model=OutboxEvent,
        migrations_path=MIGRATIONS,
        background={"runs": scoring_worker, "schedules": schedule_runner},
    )


def create_app(
    settings: ScoringSettings | None = None,
    *,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> FastAPI:
    """The scoring service's ASGI application (``transports`` reach other services in tests)."""
    service_spec = spec(settings)
    app = create_service_app(service_spec)
    assert isinstance(service_spec.settings, ScoringSettings)
    runtime = app.state.runtime
    # On the runtime, not only on the app: the workers (built from the runtime) call out too.
    runtime.upstreams = Upstreams.build(service_spec.settings, runtime.authenticator, transports)
    return app
