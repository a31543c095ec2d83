"""The services training calls: the catalog (datasets and their files) and the recipes registry.

One :class:`Upstreams` per process, kept on ``app.state``; tests hand in transports that reach
the real services' apps in-process.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import Request

from dsw_kit.auth import Authenticator
from dsw_kit.calls import ServiceCaller
from dsw_training.settings import TrainingSettings


@dataclass
class Upstreams:
    """Callers of the services training depends on."""

    catalog: ServiceCaller
    recipes: ServiceCaller

    @classmethod
    def build(
        cls,
        settings: TrainingSettings,
        authenticator: Authenticator,
        transports: dict[str, httpx.BaseTransport] | None = None,
    ) -> Upstreams:
        """Callers bound to the configured URLs (``transports`` replace the network in tests)."""
        transports = transports or {}
        return cls(
            catalog=ServiceCaller(
                settings.catalog_url,
                authenticator,
                caller="training",
                timeout_seconds=settings.call_timeout_seconds,
                transport=transports.get("catalog"),
            ),
            recipes=ServiceCaller(
                settings.recipes_url,
                authenticator,
                caller="training",
                timeout_seconds=settings.call_timeout_seconds,
                transport=transports.get("recipes"),
            ),
        )


def get_upstreams(request: Request) -> Upstreams:
    """FastAPI dependency: the callers of this process (built on first use when the app was
    assembled without them, as ``dsw-training api`` does)."""
    upstreams: Upstreams | None = getattr(request.app.state, "upstreams", None)
    if upstreams is None:
        runtime = request.app.state.runtime
        assert isinstance(runtime.settings, TrainingSettings)
        upstreams = Upstreams.build(runtime.settings, runtime.authenticator)
        request.app.state.upstreams = upstreams
    return upstreams
