"""Service-to-service calls over httpx, carrying the request id, a token and the tenant.

A call made while handling a user's request forwards that user's token (``for_request``); a
worker or consumer acting on its own uses a short-lived service identity token that names the tenant
it acts for in ``x-org-id`` / ``x-sandbox-name`` (``for_service``), which the callee checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dsw_kit.auth import ACT_AS_TENANT_SCOPE, Authenticator, RequestContext
from dsw_kit.db import Tenant
from dsw_kit.errors import ProblemError, ServiceUnavailable
from dsw_kit.logging import current_request_id

__all__ = ["ServiceCaller", "UpstreamError", "raise_for_problem"]


class UpstreamError(ProblemError):
    """Another service answered with an error that this request cannot recover from."""

    status, code, title = 502, "upstream_error", "Bad Gateway"


def _add_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


@dataclass
class ServiceCaller:
    """Makes authenticated calls to another service's API."""

    base_url: str
    authenticator: Authenticator
    caller: str
    timeout_seconds: float = 10.0
    transport: httpx.BaseTransport | None = None

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self.timeout_seconds,
            transport=self.transport,
            event_hooks={"request": [_add_request_id]},
        )

    def for_request(self, context: RequestContext) -> httpx.Client:
        """A client that acts as the user of the current request (their token, their tenant)."""
        return self._client(
            {
                "Authorization": f"Bearer {context.principal.token}",
                "x-sandbox-name": context.tenant.sandbox,
            }
        )

    def for_service(self, tenant: Tenant, scopes: list[str]) -> httpx.Client:
        """A client that acts as this service for ``tenant`` with only ``scopes``."""
        token = self.authenticator.issuer().issue(
            f"service:{self.caller}", [*scopes, ACT_AS_TENANT_SCOPE], ttl_seconds=300
        )
        return self._client(
            {
                "Authorization": f"Bearer {token}",
                "x-org-id": tenant.org_id,
                "x-sandbox-name": tenant.sandbox,
            }
        )


def raise_for_problem(response: httpx.Response) -> None:
    """Raise :class:`UpstreamError` for an error response (503 when the callee is down)."""
    if response.is_success:
        return
    if response.status_code in (502, 503, 504):
        raise ServiceUnavailable(f"{response.request.url.host} is unavailable; retry shortly")
    try:
        detail = response.json().get("detail") or response.json().get("title")
    except ValueError:
        detail = response.text[:200]
    raise UpstreamError(f"{response.request.url.path} answered {response.status_code}: {detail}")
