"""Alembic migrations per service, run programmatically (no alembic.ini to keep in sync).

Each service keeps ``migrations/`` (``env.py`` calling :func:`run_migrations`, ``versions/``) in its
package. Concurrent starts are serialised (a PostgreSQL advisory lock, a file lock for SQLite), and
more than one head refuses to run.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from dsw_kit.db import create_database_engine

__all__ = ["alembic_config", "current_heads", "downgrade", "run_migrations", "upgrade"]


class MultipleHeadsError(RuntimeError):
    """The migration history has branched; merge the heads before deploying."""


def alembic_config(database_url: str, script_location: Path) -> Config:
    """An Alembic configuration for a service's migrations folder and a database."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    return config


def _check_single_head(config: Config) -> None:
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) > 1:
        raise MultipleHeadsError(f"more than one migration head: {heads}")


@contextmanager
def _migration_lock(database_url: str) -> Iterator[None]:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if not path or path == ":memory:":
            yield
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path + ".migrate.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    yield  # PostgreSQL: the advisory lock is taken inside run_migrations


def upgrade(database_url: str, script_location: Path, revision: str = "head") -> None:
    """Upgrade the database to ``revision``."""
    config = alembic_config(database_url, script_location)
    _check_single_head(config)
    with _migration_lock(database_url):
        command.upgrade(config, revision)


def downgrade(database_url: str, script_location: Path, revision: str = "base") -> None:
    """Downgrade the database to ``revision``."""
    config = alembic_config(database_url, script_location)
    with _migration_lock(database_url):
        command.downgrade(config, revision)


def current_heads(database_url: str, script_location: Path) -> tuple[str, ...]:
    """The heads of the migration scripts."""
    return tuple(
        ScriptDirectory.from_config(alembic_config(database_url, script_location)).get_heads()
    )


def run_migrations(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``: migrate online with a lock timeout."""
    config = context.config
    database_url = config.attributes["database_url"]
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            _run(connection, target_metadata, database_url)
    finally:
        engine.dispose()


def _run(connection: Connection, target_metadata: MetaData, database_url: str) -> None:
    is_postgres = connection.dialect.name == "postgresql"
    if is_postgres:
        # Never queue behind a long transaction holding a table lock for ever.
        connection.execute(text("SET lock_timeout = '10s'"))
        key = zlib.crc32(str(target_metadata.tables.keys()).encode())
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=not is_postgres,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if is_postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


def new_revision(script_location: Path, message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database at head (developer tool)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/scratch.db"
        upgrade(url, script_location)
        command.revision(alembic_config(url, script_location), message=message, autogenerate=True)
