from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from dsw_kit.auth import Authenticator
from dsw_kit.db import Database, Tenant, TenantScopeMissingError
from dsw_kit.logging import JsonFormatter, redact


def _token(client: TestClient, org: str = "org-a", sandbox: str = "prod") -> dict[str, str]:
    authenticator: Authenticator = client.app.state.authenticator  # type: ignore[attr-defined]
    token = authenticator.issuer().issue("u", ["catalog:admin"], org_id=org, sandboxes=[sandbox])
    return {"Authorization": f"Bearer {token}"}


def test_rows_are_scoped_to_the_tenant(app_client: TestClient) -> None:
    created = app_client.post("/demo/v1/notes", json={"text": "hi"}, headers=_token(app_client))
    assert created.status_code == 201
    note = created.json()["id"]
    assert app_client.get(f"/demo/v1/notes/{note}", headers=_token(app_client)).status_code == 200
    other = app_client.get(f"/demo/v1/notes/{note}", headers=_token(app_client, org="org-b"))
    assert other.status_code == 404
    sandbox = app_client.get(f"/demo/v1/notes/{note}", headers=_token(app_client, sandbox="dev"))
    assert sandbox.status_code == 404


def test_queries_without_a_tenant_are_refused(app_client: TestClient) -> None:
    from sqlalchemy import select

    from .conftest import Note

    database: Database = app_client.app.state.runtime.database  # type: ignore[attr-defined]
    with pytest.raises(TenantScopeMissingError), database.session() as session:
        session.scalars(select(Note)).all()
    with pytest.raises(TenantScopeMissingError), database.session(Tenant("o", "s")) as session:
        session.add(Note(text="x", org_id="other", sandbox="s"))


def test_unexpected_errors_are_problems_without_internals(app_client: TestClient) -> None:
    response = app_client.get("/demo/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert response.json()["code"] == "internal_error"


def test_unknown_routes_and_methods_are_problems(app_client: TestClient) -> None:
    missing = app_client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong_method = app_client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_bodies_over_the_limit_are_refused(app_client: TestClient) -> None:
    big = {"text": "x" * 5000}
    response = app_client.post("/demo/v1/echo", json=big)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    def chunks():  # no content-length: the limit applies to what is streamed
        for _ in range(10):
            yield b"x" * 500

    streamed = app_client.post(
        "/demo/v1/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_request_ids_are_echoed_and_generated(app_client: TestClient) -> None:
    given = app_client.get("/healthz", headers={"x-request-id": "abc123"})
    assert given.headers["x-request-id"] == "abc123"
    assert len(app_client.get("/healthz").headers["x-request-id"]) == 32


def test_readiness_reports_the_missing_broker(app_client: TestClient) -> None:
    response = app_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable"}


def test_secrets_never_reach_log_lines() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = f"calling with Authorization: Bearer {token} and postgresql://u:hunter2@db/x"
    cleaned = redact(text)
    assert token not in cleaned
    assert "hunter2" not in cleaned
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", (token,), None)
    assert token not in JsonFormatter("t").format(record)
