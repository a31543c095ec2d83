"""Database handling: engines, sessions, the unit of work, common column types and tenant scoping.

Every tenant-owned table mixes in :class:`TenantScoped`. A session bound to a tenant (see
:func:`Database.session`) filters every ORM query on those tables to that tenant and stamps new rows
with it, in one place, so that no repository has to remember a ``WHERE org_id = ...``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Uuid, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTC_NOW",
    "Database",
    "ResourceMixin",
    "Tenant",
    "TenantScoped",
    "UTCDateTime",
    "create_database_engine",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


UTC_NOW = utcnow


@dataclass(frozen=True, slots=True)
class Tenant:
    """The (organisation, sandbox) pair every tenant-owned row belongs to."""

    org_id: str
    sandbox: str


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        # TypeDecorator answers ``object``; cursors (dsw_kit.pagination) need the real type.
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use UTC-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TenantScoped:
    """Columns of a row owned by one tenant; queries through a tenant session see only its rows."""

    org_id: Mapped[str] = mapped_column(String(64), index=True)
    sandbox: Mapped[str] = mapped_column(String(64), index=True)


class ResourceMixin(TenantScoped):
    """The fields every API resource has: id, created/updated, created_by, tags and a version.

    ``version`` is SQLAlchemy's version counter: an UPDATE checks it, so two concurrent writers
    cannot both win; the API exposes it as the ETag.
    """

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # Optimistic concurrency: every ORM UPDATE checks and bumps `version`.
        return {"version_id_col": cls.version}

    @property
    def etag(self) -> str:
        """A strong ETag for the current version of this resource."""
        return f'"{self.version}"'


_TENANT_KEY = "dsw.tenant"
_UNSCOPED_KEY = "dsw.unscoped"


class TenantScopeMissingError(RuntimeError):
    """A query touched tenant-owned rows through a session bound to no tenant."""


@event.listens_for(Session, "do_orm_execute")
def _filter_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("include_all_tenants") or state.session.info.get(_UNSCOPED_KEY):
        return
    tenant: Tenant | None = state.session.info.get(_TENANT_KEY)
    if tenant is None:
        if _touches_tenant_rows(state):
            raise TenantScopeMissingError(
                "tenant-owned rows queried without a tenant; use Database.session(tenant=...) "
                "or Database.system_session() for platform processes"
            )
        return
    org_id, sandbox = tenant.org_id, tenant.sandbox
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: (cls.org_id == org_id) & (cls.sandbox == sandbox),
            include_aliases=True,
        )
    )


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantScoped) for mapper in state.all_mappers)


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, flush_context: Any, instances: Any) -> None:
    tenant: Tenant | None = session.info.get(_TENANT_KEY)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if tenant is None:
            if session.info.get(_UNSCOPED_KEY) and obj.org_id and obj.sandbox:
                continue
            raise TenantScopeMissingError(f"new {type(obj).__name__} has no tenant")
        if getattr(obj, "org_id", None) in (None, tenant.org_id) and getattr(
            obj, "sandbox", None
        ) in (None, tenant.sandbox):
            obj.org_id, obj.sandbox = tenant.org_id, tenant.sandbox
        else:
            raise TenantScopeMissingError(f"new {type(obj).__name__} belongs to another tenant")


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine tuned for the backend: SQLite in WAL mode with foreign keys, PostgreSQL pooled."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if ":memory:" not in url else None,
        )
        event.listen(engine, "connect", _configure_sqlite)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # SELECT ... then UPDATE in one transaction is serialisable with BEGIN IMMEDIATE.
        event.listen(engine, "begin", _begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One service's database: an engine and a session factory.

    Sessions never commit by themselves: :meth:`session` commits once at the end of the block
    (the unit of work's boundary) and rolls back on error.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_database_engine(url, echo=echo)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite (no row locks; SKIP LOCKED unavailable)."""
        return self.engine.dialect.name == "sqlite"

    def session(self, tenant: Tenant | None = None) -> AbstractContextManager[Session]:
        """A unit of work scoped to ``tenant``; committed when the block exits cleanly."""
        return self._unit_of_work({_TENANT_KEY: tenant})

    def system_session(self) -> AbstractContextManager[Session]:
        """A unit of work for platform processes (relay, reconcilers) that spans all tenants."""
        return self._unit_of_work({_UNSCOPED_KEY: True})

    @contextmanager
    def _unit_of_work(self, info: dict[str, Any]) -> Iterator[Session]:
        with self._factory() as session:
            session.info.update(info)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
