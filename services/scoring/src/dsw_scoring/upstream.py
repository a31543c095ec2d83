"""The services scoring calls: the catalog (datasets, schemas, batches) and training (models).

One :class:`Upstreams` per process, kept on ``app.state``; tests hand in transports that reach
the real services' apps in-process.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import Request

from dsw_kit.app import ServiceRuntime
from dsw_kit.auth import Authenticator
from dsw_kit.calls import ServiceCaller
from dsw_scoring.settings import ScoringSettings

# What a worker or the scheduler may do when it acts for a tenant on its own.
SERVICE_SCOPES = ["catalog:write", "training:read"]


@dataclass
class Upstreams:
    """Callers of the services scoring depends on."""

    catalog: ServiceCaller
    training: ServiceCaller

    @classmethod
    def build(
        cls,
        settings: ScoringSettings,
        authenticator: Authenticator,
        transports: dict[str, httpx.BaseTransport] | None = None,
    ) -> Upstreams:
        """Callers bound to the configured URLs (``transports`` replace the network in tests)."""
        transports = transports or {}

        def caller(url: str, name: str) -> ServiceCaller:
            return ServiceCaller(
                url,
                authenticator,
                caller="scoring",
                timeout_seconds=settings.call_timeout_seconds,
                transport=transports.get(name),
            )

        return cls(
            catalog=caller(settings.catalog_url, "catalog"),
            training=caller(settings.training_url, "training"),
        )


def upstreams_of(runtime: ServiceRuntime) -> Upstreams:
    """The callers of this process (built on first use, e.g. by ``dsw-scoring api``)."""
    upstreams: Upstreams | None = getattr(runtime, "upstreams", None)
    if upstreams is None:
        assert isinstance(runtime.settings, ScoringSettings)
        upstreams = Upstreams.build(runtime.settings, runtime.authenticator)
        runtime.upstreams = upstreams  # type: ignore[attr-defined]
    return upstreams


def get_upstreams(request: Request) -> Upstreams:
    """FastAPI dependency: the callers of this process."""
    return upstreams_of(request.app.state.runtime)
