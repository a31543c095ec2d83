"""A tiny service built on the kit, for testing the kit itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dsw_kit.app import ServiceSpec, create_service_app
from dsw_kit.broker import TansuBroker
from dsw_kit.db import ResourceMixin
from dsw_kit.errors import NotFound
from dsw_kit.events import OutboxMixin, ProcessedEventMixin
from dsw_kit.settings import PlatformSettings, ServiceSettings
from dsw_kit.web import IdempotencyMixin, UnitOfWork, unit_of_work


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    __tablename__ = "outbox"


class Processed(ProcessedEventMixin, Base):
    __tablename__ = "processed_events"


class Keys(IdempotencyMixin, Base):
    __tablename__ = "idempotency_keys"


class Note(ResourceMixin, Base):
    __tablename__ = "notes"
    text: Mapped[str] = mapped_column(String(100))


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=100)


router = APIRouter(prefix="/demo/v1")


@router.post("/notes", status_code=201)
def create_note(body: NoteIn, work: UnitOfWork = unit_of_work("catalog:write")) -> dict[str, str]:
    note = Note(text=body.text)
    work.session.add(note)
    work.session.flush()
    return {"id": str(note.id)}


@router.get("/notes/{note_id}")
def get_note(note_id: str, work: UnitOfWork = unit_of_work("catalog:read")) -> dict[str, str]:
    import uuid

    note = work.session.scalar(select(Note).where(Note.id == uuid.UUID(note_id)))
    if note is None:
        raise NotFound("no such note")
    return {"text": note.text}


@router.post("/echo")
def echo(body: dict[str, str], request: Request) -> dict[str, str]:
    return body


@router.get("/boom")
def boom() -> None:
    raise RuntimeError("secret internals")


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    """The demo service with no broker (the relay keeps retrying in the background)."""
    platform = PlatformSettings(home=tmp_path, kafka_bootstrap="127.0.0.1:1", log_json=False)
    settings = ServiceSettings(
        service="demo",
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        migrate_on_start=False,
        embedded_relay=False,
        max_body_bytes=1024,
        platform=platform,
    )
    spec = ServiceSpec(
        name="demo",
        title="demo",
        version="0",
        settings=settings,
        routers=[router],
        outbox_model=Outbox,
        migrations_path=tmp_path,
    )
    app = create_service_app(spec)
    Base.metadata.create_all(app.state.runtime.database.engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def broker(tansu: TansuBroker) -> TansuBroker:
    return tansu
