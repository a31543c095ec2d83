from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_catalog.app import create_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.settings import PlatformSettings


@pytest.fixture
def catalog_settings(database_url: str, dsw_home: Path, event_bootstrap: str) -> CatalogSettings:
    platform = PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    return CatalogSettings(
        database_url=database_url,
        platform=platform,
        ingest_poll_seconds=0.2,
        max_file_bytes=5 * 1024 * 1024,
        max_decompression_ratio=50,
    )


@pytest.fixture
def client(catalog_settings: CatalogSettings) -> Iterator[TestClient]:
    with TestClient(create_app(catalog_settings)) as test_client:
        yield test_client


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(**kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(**kwargs)}"}

    return headers
