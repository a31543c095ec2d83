from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from dsw_kit.settings import PlatformSettings
from dsw_training.app import create_app
from dsw_training.settings import TrainingSettings


def test_the_service_starts_migrated_and_ready(
    database_url: str, dsw_home: Path, event_bootstrap: str
) -> None:
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=event_bootstrap, log_json=False)
    settings = TrainingSettings(database_url=database_url, platform=platform)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        spec = client.get("/openapi.json").json()
        assert spec["info"]["title"] == "DSW Training"
        assert all(
            path.startswith(("/training/v1", "/healthz", "/readyz", "/metrics"))
            for path in spec["paths"]
        )


def test_dataset_activity_needs_a_token_with_the_training_scope(
    database_url: str, dsw_home: Path, event_bootstrap: str, issue_token
) -> None:
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=event_bootstrap, log_json=False)
    settings = TrainingSettings(database_url=database_url, platform=platform)
    url = "/training/v1/datasets/00000000-0000-0000-0000-000000000001/activity"
    with TestClient(create_app(settings)) as client:
        assert client.get(url).status_code == 401
        wrong = client.get(
            url, headers={"Authorization": f"Bearer {issue_token(['catalog:read'])}"}
        )
        assert wrong.status_code == 403
        right = client.get(
            url, headers={"Authorization": f"Bearer {issue_token(['training:read'])}"}
        )
        assert right.status_code == 404
        assert right.json()["code"] == "dataset_not_known"


def test_the_cli_assembled_app_reaches_the_catalog_it_is_configured_with(
    database_url: str, dsw_home: Path, event_bootstrap: str, issue_token
) -> None:
    from dsw_kit.app import create_service_app
    from dsw_training.app import spec

    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=event_bootstrap, log_json=False)
    # Nothing listens there: the dataset check is a 503, not a crash.
    settings = TrainingSettings(
        database_url=database_url,
        platform=platform,
        catalog_url="http://127.0.0.1:9",
        embedded_workers=False,
    )
    with TestClient(create_service_app(spec(settings))) as client:
        response = client.post(
            "/training/v1/models",
            json={
                "name": "m",
                "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
                "dataset_id": "00000000-0000-0000-0000-000000000001",
            },
            headers={"Authorization": f"Bearer {issue_token()}"},
        )
        assert response.status_code == 503, response.text
