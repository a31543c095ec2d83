from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_kit.settings import PlatformSettings
from dsw_recipes.app import create_app
from dsw_recipes.settings import RecipesSettings


@pytest.fixture
def recipes_settings(database_url: str, dsw_home: Path, event_bootstrap: str) -> RecipesSettings:
    platform = PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    return RecipesSettings(
        database_url=database_url,
        platform=platform,
        smoke_builtins=False,
        smoke_poll_seconds=0.2,
        # Long enough for a real recipe on 2 busy cores, short for the one that sleeps.
        smoke_timeout_seconds=15,
        smoke_memory_bytes=3 * 1024**3,
        max_package_bytes=256 * 1024,
        max_unpacked_bytes=1024 * 1024,
        max_package_entries=50,
        git_allowed_schemes=["https", "file"],
    )


@pytest.fixture
def client(recipes_settings: RecipesSettings) -> Iterator[TestClient]:
    """The API alone (no smoke worker, no consumers): built-ins still register at start-up."""
    settings = recipes_settings.model_copy(update={"embedded_workers": False})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def worker_client(recipes_settings: RecipesSettings) -> Iterator[TestClient]:
    """The API with its smoke worker and the usage consumer running."""
    with TestClient(create_app(recipes_settings)) as test_client:
        yield test_client


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(**kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(**kwargs)}"}

    return headers
