"""A module-wide platform: the real catalog, training and scoring services beside serving,
in-process.

Each test module ingests the retail sample and trains once (a real training run logged to a
real MLflow store); serving resolves sources through the real training API and consumes its
events through the real broker. Databases are SQLite files, or PostgreSQL databases when
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
from dsw_scoring.app import create_app as create_scoring_app
from dsw_scoring.settings import ScoringSettings
from dsw_serving.app import create_app
from dsw_serving.settings import ServingSettings
from dsw_training.app import create_app as create_training_app
from dsw_training.settings import TrainingSettings

from .helpers import create_model, ingest_retail, train

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
    """Catalog, training, scoring and serving sharing one data home, a trained retail model."""

    home: Path
    platform: PlatformSettings
    databases: Databases
    catalog: TestClient
    training: TestClient
    scoring: TestClient
    serving: TestClient
    headers: Headers
    dataset_id: str = ""
    model_id: str = ""
    run: dict[str, Any] = field(default_factory=dict)


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
    scoring_settings = ScoringSettings(
        database_url=databases.new("scoring"),
        platform=platform,
        run_poll_seconds=0.2,
        schedule_poll_seconds=0.2,
        register_poll_seconds=0.1,
    )
    serving_settings = ServingSettings(
        database_url=databases.new("serving"),
        platform=platform,
        state_poll_seconds=0.2,
        predict_max_records=50,
        invocation_flush_seconds=0.05,
        outbox_poll_seconds=0.2,
    )
    try:
        with TestClient(create_catalog_app(catalog_settings)) as catalog:
            training_app = create_training_app(
                training_settings, transports={"catalog": catalog._transport}
            )
            upstreams = {"catalog": catalog._transport}
            with TestClient(training_app) as training:
                upstreams["training"] = training._transport
                scoring_app = create_scoring_app(scoring_settings, transports=upstreams)
                with TestClient(scoring_app) as scoring:
                    upstreams["scoring"] = scoring._transport
                    serving_app = create_app(serving_settings, transports=upstreams)
                    with TestClient(serving_app) as serving:
                        world = World(
                            home, platform, databases, catalog, training, scoring, serving, headers
                        )
                        world.dataset_id = ingest_retail(catalog, headers())
                        world.model_id = create_model(training, headers(), world.dataset_id)
                        world.run = train(training, headers(), world.model_id)
                        yield world
    finally:
        databases.drop()
