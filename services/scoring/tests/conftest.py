"""A module-wide platform: the real catalog and training services beside scoring, in-process.

Training a model takes seconds, so each test module ingests the retail sample and trains once;
tests then score with that model. Databases are SQLite files, or PostgreSQL databases when
DSW_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dsw_catalog.app import create_app as create_catalog_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.auth import Authenticator, all_scopes
from dsw_kit.settings import AuthSettings, PlatformSettings
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from dsw_scoring.app import create_app
from dsw_scoring.settings import ScoringSettings
from dsw_training.app import create_app as create_training_app
from dsw_training.settings import TrainingSettings

from .helpers import ingest_retail, train

Headers = Callable[..., dict[str, str]]


class Databases:
    """Fresh databases for the apps of one module (dropped at the end on PostgreSQL)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.admin = postgres_admin_url()
        self.made: list[str] = []

    def new(self, name: str) -> str:
        if self.admin is None:
            return f"sqlite:///{self.folder / (name + '-' + uuid.uuid4().hex[:6] + '.db')}"
        url = create_postgres_database(self.admin, prefix=f"dsw_test_{name}")
        self.made.append(url)
        return url

    def drop(self) -> None:
        for url in self.made:
            drop_postgres_database(url)


@dataclass
class World:
    """Catalog, training and scoring (with workers) sharing one data home, and a trained model."""

    home: Path
    platform: PlatformSettings
    databases: Databases
    catalog: TestClient
    training: TestClient
    scoring: TestClient
    headers: Headers
    dataset_id: str = ""
    training_run: dict[str, Any] = field(default_factory=dict)

    def scoring_settings(self, **overrides: Any) -> ScoringSettings:
        values: dict[str, Any] = {
            "database_url": self.databases.new("scoring"),
            "platform": self.platform,
            "run_poll_seconds": 0.2,
            "run_lease_seconds": 6.0,
            "progress_write_seconds": 0.1,
            "cancel_poll_seconds": 0.1,
            "register_poll_seconds": 0.1,
        }
        return ScoringSettings(**(values | overrides))

    def transports(self) -> dict[str, Any]:
        return {"catalog": self.catalog._transport, "training": self.training._transport}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_event_bootstrap: str) -> Iterator[World]:
    home = tmp_path_factory.mktemp("home")
    platform = PlatformSettings(
        home=home,
        kafka_bootstrap=module_event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    databases = Databases(home)
    issuer = Authenticator(AuthSettings(), home).issuer()

    def headers(
        *, org_id: str = "org-a", scopes: list[str] | None = None, subject: str = "alice"
    ) -> dict[str, str]:
        token = issuer.issue(
            subject, all_scopes() if scopes is None else scopes, org_id=org_id, sandboxes=("prod",)
        )
        return {"Authorization": f"Bearer {token}"}

    catalog_settings = CatalogSettings(
        database_url=databases.new("catalog"), platform=platform, ingest_poll_seconds=0.2
    )
    training_settings = TrainingSettings(
        database_url=databases.new("training"),
        platform=platform,
        run_poll_seconds=0.2,
        progress_write_seconds=0.5,
        cancel_poll_seconds=0.2,
    )
    try:
        with TestClient(create_catalog_app(catalog_settings)) as catalog:
            training_app = create_training_app(
                training_settings, transports={"catalog": catalog._transport}
            )
            with TestClient(training_app) as training:
                transports = {"catalog": catalog._transport, "training": training._transport}
                world = World(home, platform, databases, catalog, training, None, headers)  # type: ignore[arg-type]
                scoring_app = create_app(world.scoring_settings(), transports=transports)
                with TestClient(scoring_app) as scoring:
                    world.scoring = scoring
                    world.dataset_id = ingest_retail(catalog, headers())
                    world.training_run = train(training, headers(), world.dataset_id)
                    yield world
    finally:
        databases.drop()
