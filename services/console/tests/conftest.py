"""The console in-process beside the real catalog, recipes and training services.

The console reaches the other apps through their in-process transports, so every page is built from
real API answers (real broker, real databases, real MLflow). All five APIs are real.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dsw_console.app import create_app
from dsw_console.session import TOKEN_COOKIE
from dsw_console.settings import ConsoleSettings
from fastapi.testclient import TestClient

from dsw_catalog.app import create_app as create_catalog_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import free_port
from dsw_kit.settings import PlatformSettings
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from dsw_recipes.app import create_app as create_recipes_app
from dsw_recipes.settings import RecipesSettings
from dsw_scoring.app import create_app as create_scoring_app
from dsw_scoring.settings import ScoringSettings
from dsw_serving.app import create_app as create_serving_app
from dsw_serving.settings import ServingSettings
from dsw_training.app import create_app as create_training_app
from dsw_training.settings import TrainingSettings


def _database(prefix: str, tmp_path: Path) -> Iterator[str]:
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path / (prefix + '.db')}"
        return
    url = create_postgres_database(admin, prefix=f"dsw_test_{prefix}")
    yield url
    drop_postgres_database(url)


@pytest.fixture
def platform(dsw_home: Path, event_bootstrap: str) -> PlatformSettings:
    return PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )


@pytest.fixture
def catalog(platform: PlatformSettings, tmp_path: Path) -> Iterator[TestClient]:
    for url in _database("catalog", tmp_path):
        settings = CatalogSettings(database_url=url, platform=platform, ingest_poll_seconds=0.2)
        with TestClient(create_catalog_app(settings)) as client:
            yield client


@pytest.fixture
def recipes(platform: PlatformSettings, tmp_path: Path) -> Iterator[TestClient]:
    for url in _database("recipes", tmp_path):
        settings = RecipesSettings(
            database_url=url, platform=platform, smoke_builtins=False, embedded_workers=False
        )
        with TestClient(create_recipes_app(settings)) as client:
            yield client


@pytest.fixture
def training(
    platform: PlatformSettings, database_url: str, catalog: TestClient, recipes: TestClient
) -> Iterator[TestClient]:
    settings = TrainingSettings(
        database_url=database_url,
        platform=platform,
        run_poll_seconds=0.2,
        progress_write_seconds=0.2,
        cancel_poll_seconds=0.2,
        log_sync_seconds=0.5,
        sweep_poll_seconds=0.2,
    )
    transports = {"catalog": catalog._transport, "recipes": recipes._transport}
    with TestClient(create_training_app(settings, transports=transports)) as client:
        yield client


@pytest.fixture
def serving(
    platform: PlatformSettings, tmp_path: Path, training: TestClient
) -> Iterator[TestClient]:
    for url in _database("serving", tmp_path):
        settings = ServingSettings(database_url=url, platform=platform)
        app = create_serving_app(settings, transports={"training": training._transport})
        with TestClient(app) as client:
            yield client


@pytest.fixture
def scoring(
    platform: PlatformSettings, tmp_path: Path, catalog: TestClient, training: TestClient
) -> Iterator[TestClient]:
    for url in _database("scoring", tmp_path):
        settings = ScoringSettings(
            database_url=url,
            platform=platform,
            run_poll_seconds=0.2,
            cancel_poll_seconds=0.2,
            register_poll_seconds=0.2,
        )
        transports = {"catalog": catalog._transport, "training": training._transport}
        with TestClient(create_scoring_app(settings, transports=transports)) as client:
            yield client


@dataclass
class Console:
    """The console's test client and the APIs behind it."""

    client: TestClient
    catalog: TestClient
    recipes: TestClient  # the catalog again in ``catalog_console``
    training: TestClient  # likewise
    settings: ConsoleSettings
    serving: TestClient | None = None  # for what an application does, such as sending feedback

    def sign_in(self, token: str) -> None:
        """Sign in by pasting ``token`` (as a user would)."""
        response = self.client.post("/login", data={"token": token}, follow_redirects=False)
        assert response.status_code == 303, response.text
        assert TOKEN_COOKIE in self.client.cookies


# Where the console is told the MLflow UI is (it links models and runs there).
MLFLOW_UI = "http://mlflow.test:5000/"


def console_settings(platform: PlatformSettings, **overrides: object) -> ConsoleSettings:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    values: dict[str, object] = {
        "platform": platform,
        "scoring_url": nowhere,
        "serving_url": nowhere,
        **overrides,
    }
    return ConsoleSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def console(
    platform: PlatformSettings,
    catalog: TestClient,
    recipes: TestClient,
    training: TestClient,
    serving: TestClient,
    scoring: TestClient,
) -> Iterator[Console]:
    settings = console_settings(platform, mlflow_url=MLFLOW_UI)
    transports = {
        "catalog": catalog._transport,
        "recipes": recipes._transport,
        "training": training._transport,
        "serving": serving._transport,
        "scoring": scoring._transport,
    }
    with TestClient(create_app(settings, transports=transports)) as client:
        yield Console(client, catalog, recipes, training, settings, serving)


@pytest.fixture
def catalog_console(platform: PlatformSettings, catalog: TestClient) -> Iterator[Console]:
    """The console with only the real catalog behind it (dataset pages need nothing else)."""
    settings = console_settings(platform)
    with TestClient(create_app(settings, transports={"catalog": catalog._transport})) as client:
        yield Console(client, catalog, catalog, catalog, settings)


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(**kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(**kwargs)}"}

    return headers
