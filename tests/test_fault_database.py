"""Database outage: requests fail fast with 503 problem+json, then recover without a restart.

The catalog runs against a real PostgreSQL database reached through a proxy the test cuts for
ten seconds, which is what a database failover or a network partition looks like to the service.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import make_url

from dsw_catalog.app import create_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import TansuBroker
from dsw_kit.settings import PlatformSettings
from tests.support.tcp_proxy import TcpProxy

OUTAGE_SECONDS = 10


@pytest.fixture
def proxied_database(database_url: str) -> Iterator[tuple[str, TcpProxy]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("a database outage is a network fault: needs DSW_TEST_POSTGRES_URL")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.cut()


SCHEMA = {
    "title": "Outage",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "outage",
    "tenantFields": {"properties": {"score": {"type": "number"}}},
}


def _until_ok(call: Callable[[], Response], seconds: float = 30) -> Response:
    """The first 200 answer of ``call``, retried while the service reconnects."""
    deadline = time.monotonic() + seconds
    while True:
        response = call()
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response
        time.sleep(0.5)


def test_requests_fail_fast_during_an_outage_and_recover_after_it(
    proxied_database: tuple[str, TcpProxy],
    dsw_home: Path,
    tansu: TansuBroker,
    issue_token: Callable[..., str],
) -> None:
    url, proxy = proxied_database
    platform = PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=tansu.bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    headers = {"Authorization": f"Bearer {issue_token()}"}
    settings = CatalogSettings(database_url=url, platform=platform)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        schema = client.post("/catalog/v1/schemas", headers=headers, json=SCHEMA)
        assert schema.status_code == 201, schema.text
        dataset = {"name": "kept", "schema_id": schema.json()["id"]}
        created = client.post("/catalog/v1/datasets", headers=headers, json=dataset)
        assert created.status_code == 201, created.text

        proxy.cut()
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        answers = []
        while time.monotonic() < outage_ends:
            answers.append(client.get("/catalog/v1/datasets", headers=headers))
            time.sleep(1)
        written = client.post(
            "/catalog/v1/datasets", headers=headers, json={**dataset, "name": "refused"}
        )
        ready = client.get("/readyz")
        proxy.restore()

        assert {a.status_code for a in answers} == {503}
        assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
        assert answers[0].json()["title"]
        assert written.status_code == 503
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"

        after = _until_ok(lambda: client.get("/catalog/v1/datasets", headers=headers))
        assert [d["name"] for d in after.json()["items"]] == ["kept"]
        assert client.get("/readyz").status_code == 200
