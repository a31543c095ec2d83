from __future__ import annotations

from pathlib import Path

import httpx

from dsw_kit.auth import Authenticator, Principal, RequestContext
from dsw_kit.calls import ServiceCaller
from dsw_kit.db import Tenant
from dsw_kit.logging import request_id_var
from dsw_kit.settings import AuthSettings


def test_calls_carry_the_request_id_and_the_right_identity(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    authenticator = Authenticator(AuthSettings(), tmp_path)
    caller = ServiceCaller(
        "http://catalog", authenticator, "training", transport=httpx.MockTransport(handler)
    )
    token = request_id_var.set("req-42")
    try:
        user = RequestContext(
            Principal("alice", frozenset(), "org-a", token="user-token"), Tenant("org-a", "prod")
        )
        with caller.for_request(user) as client:
            client.get("/catalog/v1/datasets")
        with caller.for_service(Tenant("org-b", "dev"), ["catalog:read"]) as client:
            client.get("/catalog/v1/datasets")
    finally:
        request_id_var.reset(token)
    as_user, as_service = seen
    assert as_user.headers["x-request-id"] == as_service.headers["x-request-id"] == "req-42"
    assert as_user.headers["authorization"] == "Bearer user-token"
    service_principal = authenticator.verify(as_service.headers["authorization"].split()[1])
    assert service_principal.subject == "service:training"
    assert service_principal.scopes == {"catalog:read", "platform:tenant"}
    assert (as_service.headers["x-org-id"], as_service.headers["x-sandbox-name"]) == (
        "org-b",
        "dev",
    )
