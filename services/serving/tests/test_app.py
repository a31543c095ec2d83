from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from dsw_kit.settings import PlatformSettings
from dsw_serving.app import create_app
from dsw_serving.settings import ServingSettings


def test_the_service_starts_migrated_and_ready(
    database_url: str, dsw_home: Path, event_bootstrap: str
) -> None:
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=event_bootstrap, log_json=False)
    settings = ServingSettings(database_url=database_url, platform=platform)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        spec = client.get("/openapi.json").json()
        assert spec["info"]["title"] == "DSW Serving"
        assert all(
            path.startswith(("/serving/v1", "/v2/", "/healthz", "/readyz", "/metrics"))
            for path in spec["paths"]
        )
