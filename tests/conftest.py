"""Fixtures of the cross-service tests: services in-process or as real processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_kit.broker import TansuBroker
from dsw_kit.settings import PlatformSettings, ServiceSettings
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from dsw_kit.testing.tiers import real_process_fixture

DatabaseFactory = Callable[[str], str]


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """``new_database(name)``: a fresh database URL per call (SQLite or PostgreSQL)."""
    made: list[str] = []

    def make(name: str) -> str:
        admin = postgres_admin_url()
        if admin is None:
            return f"sqlite:///{tmp_path / (name + '.db')}"
        url = create_postgres_database(admin, prefix=f"dsw_{name}")
        made.append(url)
        return url

    yield make
    for url in made:
        drop_postgres_database(url)


@real_process_fixture()
def fresh_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own: nothing on its topics but what the test sends."""
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    yield broker
    broker.stop()


@pytest.fixture
def platform(dsw_home: Path, event_bootstrap: str) -> PlatformSettings:
    """Platform settings on the test broker and data home."""
    return PlatformSettings(
        home=dsw_home,
        kafka_bootstrap=event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_app(
    create_app: Callable[[ServiceSettings], object], settings: ServiceSettings
) -> TestClient:
    """A started in-process service (lifespan run: migrations, relay, consumers)."""
    client = TestClient(create_app(settings))  # type: ignore[arg-type]
    client.__enter__()
    return client
