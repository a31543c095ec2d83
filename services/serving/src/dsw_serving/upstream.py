"""The services serving calls: training (runs and models, to resolve a service's source;
retraining schedules) and scoring (scoring schedules made when a service is published).

One :class:`Upstreams` per runtime; tests hand in transports that reach the real training app
in-process.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import Request

from dsw_kit.app import ServiceRuntime
from dsw_kit.auth import Authenticator
from dsw_kit.calls import ServiceCaller
from dsw_serving.settings import ServingSettings

# What the promotion consumer may do when it acts for a tenant on its own.
SERVICE_SCOPES = ["training:read"]


@dataclass
class Upstreams:
    """Callers of the services serving depends on."""

    training: ServiceCaller
    scoring: ServiceCaller

    @classmethod
    def build(
        cls,
        settings: ServingSettings,
        authenticator: Authenticator,
        transports: dict[str, httpx.BaseTransport] | None = None,
    ) -> Upstreams:
        """Callers bound to the configured URLs (``transports`` replace the network in tests)."""
        transports = transports or {}

        def caller(url: str, name: str) -> ServiceCaller:
            return ServiceCaller(
                url,
                authenticator,
                caller="serving",
                timeout_seconds=settings.call_timeout_seconds,
                transport=transports.get(name),
            )

        return cls(
            training=caller(settings.training_url, "training"),
            scoring=caller(settings.scoring_url, "scoring"),
        )


def upstreams_of(runtime: ServiceRuntime) -> Upstreams:
    """The callers of this process (built on first use, e.g. by ``dsw-serving api``)."""
    upstreams: Upstreams | None = getattr(runtime, "upstreams", None)
    if upstreams is None:
        assert isinstance(runtime.settings, ServingSettings)
        upstreams = Upstreams.build(runtime.settings, runtime.authenticator)
        runtime.upstreams = upstreams  # type: ignore[attr-defined]
    return upstreams


def get_upstreams(request: Request) -> Upstreams:
    """FastAPI dependency: the callers of this process."""
    return upstreams_of(request.app.state.runtime)
