from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_catalog.app import create_app as create_catalog_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.settings import PlatformSettings
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from dsw_recipes.app import create_app as create_recipes_app
from dsw_recipes.settings import RecipesSettings
from dsw_training.app import create_app
from dsw_training.settings import TrainingSettings


@pytest.fixture
def platform(dsw_home: Path, event_bootstrap: str) -> PlatformSettings:
    return PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )


@pytest.fixture
def catalog_database_url(tmp_path: Path) -> Iterator[str]:
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    url = create_postgres_database(admin, prefix="dsw_test_catalog")
    yield url
    drop_postgres_database(url)


@pytest.fixture
def catalog(catalog_database_url: str, platform: PlatformSettings) -> Iterator[TestClient]:
    """The real catalog service, in-process, sharing the data home (lake, token secret)."""
    settings = CatalogSettings(
        database_url=catalog_database_url, platform=platform, ingest_poll_seconds=0.2
    )
    with TestClient(create_catalog_app(settings)) as client:
        yield client


@pytest.fixture
def training_settings(database_url: str, platform: PlatformSettings) -> TrainingSettings:
    return TrainingSettings(
        database_url=database_url,
        platform=platform,
        run_poll_seconds=0.2,
        run_lease_seconds=6.0,
        progress_write_seconds=0.2,
        progress_event_seconds=0.5,
        cancel_poll_seconds=0.2,
        log_sync_seconds=0.5,
        sweep_poll_seconds=0.2,
        schedule_poll_seconds=0.2,
    )


@pytest.fixture
def recipes(platform: PlatformSettings, tmp_path: Path) -> Iterator[TestClient]:
    """The real recipes registry, in-process (built-ins registered, no smoke runs)."""
    yield from _recipes(platform, tmp_path, workers=False)


@pytest.fixture
def recipes_with_smoke(platform: PlatformSettings, tmp_path: Path) -> Iterator[TestClient]:
    """The real recipes registry whose worker smoke-runs (imports) uploaded packages."""
    yield from _recipes(platform, tmp_path, workers=True)


def _recipes(platform: PlatformSettings, tmp_path: Path, *, workers: bool) -> Iterator[TestClient]:
    admin = postgres_admin_url()
    url = (
        create_postgres_database(admin, prefix="dsw_test_recipes")
        if admin
        else f"sqlite:///{tmp_path / 'recipes.db'}"
    )
    settings = RecipesSettings(
        database_url=url, platform=platform, smoke_builtins=False, embedded_workers=workers
    )
    with TestClient(create_recipes_app(settings)) as client:
        yield client
    if admin:
        drop_postgres_database(url)


@dataclass
class Stack:
    """The training API beside the real catalog."""

    training: TestClient
    catalog: TestClient
    recipes: TestClient | None = None


def _stack(settings: TrainingSettings, catalog: TestClient) -> Iterator[Stack]:
    transport = catalog._transport  # the catalog app, reached in-process
    with TestClient(create_app(settings, transports={"catalog": transport})) as training:
        yield Stack(training, catalog)


@pytest.fixture
def stack(training_settings: TrainingSettings, catalog: TestClient) -> Iterator[Stack]:
    """Training with its embedded worker."""
    yield from _stack(training_settings, catalog)


@pytest.fixture
def stack_without_workers(
    training_settings: TrainingSettings, catalog: TestClient
) -> Iterator[Stack]:
    """Training without workers: tests drive the worker themselves."""
    training_settings.embedded_workers = False
    yield from _stack(training_settings, catalog)


@pytest.fixture
def stack_with_registry(
    training_settings: TrainingSettings, catalog: TestClient, recipes: TestClient
) -> Iterator[Stack]:
    """Training (no workers) beside the real catalog and the real recipes registry."""
    training_settings.embedded_workers = False
    transports = {"catalog": catalog._transport, "recipes": recipes._transport}
    with TestClient(create_app(training_settings, transports=transports)) as training:
        yield Stack(training, catalog)


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(**kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(**kwargs)}"}

    return headers


@pytest.fixture
def stack_with_registry_and_workers(
    training_settings: TrainingSettings, catalog: TestClient, recipes_with_smoke: TestClient
) -> Iterator[Stack]:
    """Training with its worker beside the real catalog and recipes registry (smoke runs on)."""
    transports = {"catalog": catalog._transport, "recipes": recipes_with_smoke._transport}
    with TestClient(create_app(training_settings, transports=transports)) as training:
        yield Stack(training, catalog, recipes_with_smoke)
