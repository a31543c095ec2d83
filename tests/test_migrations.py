"""Every service's migrations build an empty database to head and take it back to empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from dsw_kit.db import create_database_engine
from dsw_kit.migrations import current_heads, downgrade, upgrade
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

SERVICES = ["catalog", "recipes", "training", "scoring", "serving"]


def _migrations(service: str) -> Path:
    module = __import__(f"dsw_{service}.app", fromlist=["MIGRATIONS"])
    return Path(module.MIGRATIONS)


def _tables(url: str) -> set[str]:
    engine = create_database_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(url: str, service: str) -> None:
    path = _migrations(service)
    assert len(current_heads(url, path)) == 1
    upgrade(url, path)
    tables = _tables(url)
    assert {"outbox", "processed_events", "idempotency_keys", "alembic_version"} <= tables
    downgrade(url, path, "base")
    assert _tables(url) <= {"alembic_version"}
    upgrade(url, path)
    assert _tables(url) == tables


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_sqlite(service: str, tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'db.sqlite'}", service)


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_postgres(service: str) -> None:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("DSW_TEST_POSTGRES_URL is not set (CI sets it to the local PostgreSQL)")
    url = create_postgres_database(admin, prefix=f"dsw_migrate_{service}")
    try:
        _round_trip(url, service)
    finally:
        drop_postgres_database(url)
