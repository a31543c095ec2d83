"""pytest plugin of the platform kit: a real broker, real databases, tokens.

Fixtures:

- ``tansu``: a Tansu broker process for the whole test session (memory storage, free port);
  tests using it are integration tests.
- ``event_bootstrap``: where a platform under test sends events: a fresh in-process bus, or the
  real broker for tests marked ``broker``.
- ``database_url``: a fresh, empty database for one test: a SQLite file, or a new PostgreSQL
  database when ``DSW_TEST_POSTGRES_URL`` is set (dropped after the test).
- ``dsw_home``: an empty data home for one test.
- ``issue_token``: signs tokens the services under test accept (HS256 secret in ``dsw_home``).

Tests never see the real user's configuration or data: ``HOME`` and ``XDG_CONFIG_HOME`` point at
a scratch folder for the whole session (``dsw up`` writes its pointer there, ``~/.dsw`` is there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dsw_kit.auth import Authenticator, all_scopes
from dsw_kit.broker import TansuBroker
from dsw_kit.events import MEMORY_SCHEME, MemoryBus
from dsw_kit.settings import AuthSettings
from dsw_kit.testing import tiers

POSTGRES_ENV = "DSW_TEST_POSTGRES_URL"
_scratch: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Register the tiers' markers and watch for real processes (:mod:`dsw_kit.testing.tiers`);
    point ``HOME`` and ``XDG_CONFIG_HOME`` at a scratch folder before any test runs."""
    config.addinivalue_line("markers", "integration: uses real processes (broker, services)")
    config.addinivalue_line(
        "markers", "broker: runs against the real broker (so in the integration tier)"
    )
    tiers.watch_processes()
    # Caches stay where they were: uv and pip in tests must not download everything again.
    os.environ.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    scratch = Path(tempfile.mkdtemp(prefix="dsw-test-user-"))
    _scratch.append(scratch)
    for name, folder in (("HOME", scratch / "home"), ("XDG_CONFIG_HOME", scratch / "config")):
        folder.mkdir()
        os.environ[name] = str(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the scratch folder of :func:`pytest_configure`."""
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def postgres_admin_url() -> str | None:
    """The PostgreSQL server tests create databases on, if configured."""
    return os.environ.get(POSTGRES_ENV) or None


@tiers.real_process_fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A real Kafka-protocol broker for the test session."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    broker = TansuBroker(log_path=log).start()
    yield broker
    broker.stop()


@pytest.fixture
def dsw_home(tmp_path: Path) -> Path:
    """An empty data home."""
    home = tmp_path / "home"
    home.mkdir()
    return home


def create_postgres_database(admin_url: str, prefix: str = "dsw_test") -> str:
    """Create an empty database on the server of ``admin_url``; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(database_url: str) -> None:
    """Drop a database made by :func:`create_postgres_database` (closing its connections)."""
    url = make_url(database_url)
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh empty database (SQLite, or PostgreSQL when DSW_TEST_POSTGRES_URL is set)."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = create_postgres_database(admin)
    yield url
    drop_postgres_database(url)


TokenFactory = Callable[..., str]


@pytest.fixture
def issue_token(dsw_home: Path) -> TokenFactory:
    """``issue_token(scopes=None, org_id="org-a", sandboxes=("prod",), subject="alice")``."""
    issuer = Authenticator(AuthSettings(), dsw_home).issuer()

    def issue(
        scopes: list[str] | None = None,
        *,
        org_id: str | None = "org-a",
        sandboxes: tuple[str, ...] = ("prod",),
        subject: str = "alice",
        ttl_seconds: int | None = None,
    ) -> str:
        return issuer.issue(
            subject,
            all_scopes() if scopes is None else scopes,
            org_id=org_id,
            sandboxes=sandboxes,
            ttl_seconds=ttl_seconds,
        )

    return issue


# -- tiers -----------------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark_tiers(items)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    tiers.enter_test(item)
    try:
        yield
    finally:
        tiers.leave_test()


@pytest.fixture
def event_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the platform under test sends its events: a fresh in-process bus
    (``memory://<id>``), or the session's real broker for a test marked ``broker``."""
    if request.node.get_closest_marker("broker") is not None:
        broker: TansuBroker = request.getfixturevalue("tansu")
        yield broker.bootstrap
        return
    bootstrap = f"{MEMORY_SCHEME}{uuid.uuid4().hex}"
    yield bootstrap
    MemoryBus.discard(bootstrap)


@pytest.fixture(scope="module")
def module_event_bootstrap() -> Iterator[str]:
    """A fresh in-process bus for the platform a whole module's tests share."""
    bootstrap = f"{MEMORY_SCHEME}{uuid.uuid4().hex}"
    yield bootstrap
    MemoryBus.discard(bootstrap)
