"""Every operation of every service requires a token (or, for predictions, an API key).

The operations are read from each application's OpenAPI document, so an endpoint added later is
covered without editing this test: only the operational endpoints in ``PUBLIC`` answer anonymous
callers.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dsw_kit.settings import PlatformSettings

SERVICES = ["catalog", "recipes", "training", "scoring", "serving"]
# Liveness, readiness and metrics are for orchestrators and scrapers; the Open Inference Protocol's
# server health routes are its equivalent of /healthz and /readyz.
PUBLIC = {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"}
SOME_ID = "00000000-0000-0000-0000-000000000001"
# A token that is valid but carries only a scope of a service other than the one called.
FOREIGN_SCOPE = {svc: "recipes:admin" if svc == "catalog" else "catalog:admin" for svc in SERVICES}


def _settings_class(service: str) -> type:
    module = importlib.import_module(f"dsw_{service}.settings")
    return next(
        value
        for name, value in vars(module).items()
        if name.endswith("Settings") and getattr(value, "__module__", "") == module.__name__
    )


@pytest.fixture(params=SERVICES)
def service_app(
    request: pytest.FixtureRequest, tmp_path: Path, dsw_home: Path, event_bootstrap: str
) -> Iterator[tuple[str, FastAPI, TestClient]]:
    service: str = request.param
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=event_bootstrap, log_json=False)
    settings = _settings_class(service)(
        database_url=f"sqlite:///{tmp_path / (service + '.db')}",
        platform=platform,
        embedded_workers=False,
        embedded_relay=False,
    )
    app: FastAPI = importlib.import_module(f"dsw_{service}.app").create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield service, app, client


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every documented operation but the public ones, with its path parameters filled in."""
    operations = []
    for template, methods in app.openapi()["paths"].items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", SOME_ID, template)
        operations.extend((method.upper(), path) for method in sorted(methods))
    return operations


def _call(client: TestClient, method: str, path: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.request(method, path, headers=headers, json={})
    return response.status_code, response.headers.get("content-type", "")


def test_every_operation_refuses_anonymous_callers(
    service_app: tuple[str, FastAPI, TestClient],
) -> None:
    _, app, client = service_app
    operations = _operations(app)
    assert operations, "the service exposes no operations"
    answers = {f"{m} {p}": _call(client, m, p, None) for m, p in operations}
    wrong = {op: answer for op, answer in answers.items() if answer[0] != 401}
    assert not wrong, f"answered without a token: {wrong}"
    assert all(kind.startswith("application/problem+json") for _, kind in answers.values())


def test_every_operation_refuses_a_token_without_its_scope(
    service_app: tuple[str, FastAPI, TestClient], issue_token
) -> None:
    service, app, client = service_app
    token = issue_token([FOREIGN_SCOPE[service]])
    answers = {f"{m} {p}": _call(client, m, p, token) for m, p in _operations(app)}
    wrong = {op: answer for op, answer in answers.items() if answer[0] != 403}
    assert not wrong, f"answered a token without the {service} scope: {wrong}"


def test_public_routes_are_only_operational(service_app: tuple[str, FastAPI, TestClient]) -> None:
    _, app, client = service_app
    for path in PUBLIC & set(app.openapi()["paths"]):
        assert client.get(path).status_code in {200, 503}
