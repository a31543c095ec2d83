from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_catalog.app import create_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import TansuBroker
from dsw_kit.settings import PlatformSettings


@pytest.fixture
def catalog_settings(database_url: str, dsw_home: Path, tansu: TansuBroker) -> CatalogSettings:
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=tansu.bootstrap, log_json=False)
    return CatalogSettings(database_url=database_url, platform=platform)


@pytest.fixture
def client(catalog_settings: CatalogSettings) -> Iterator[TestClient]:
    with TestClient(create_app(catalog_settings)) as test_client:
        yield test_client


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(**kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(**kwargs)}"}

    return headers
