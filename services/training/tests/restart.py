"""A training service restarted on a broker that lost its messages (for recovery tests).

The embedded broker keeps messages in memory: after a restart, commands it had not delivered are
gone. A restarted service must find its due work from its database rows alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dsw_kit.broker import TansuBroker
from dsw_kit.db import Database
from dsw_training.app import create_app
from dsw_training.models import OutboxEvent, ProcessedEvent
from dsw_training.settings import TrainingSettings


def wait_delivered(database: Database) -> None:
    """Wait until the relay has sent every outbox event to the broker."""
    deadline = time.monotonic() + 60
    unsent = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))
    while time.monotonic() < deadline:
        with database.system_session() as session:
            if session.scalar(unsent) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the relay did not deliver the outbox")


@contextmanager
def restarted(
    settings: TrainingSettings, catalog: TestClient, folder: Path
) -> Iterator[TestClient]:
    """The training service, with its workers, on a new broker (empty: nothing to wake it)."""
    broker = TansuBroker(log_path=folder / "restarted-broker.log").start()
    platform = settings.platform.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    again = settings.model_copy(update={"embedded_workers": True, "platform": platform})
    try:
        app = create_app(again, transports={"catalog": catalog._transport})
        with TestClient(app) as client:
            yield client
    finally:
        broker.stop()


def commands_sent(database: Database) -> set[str]:
    """The ids of the run commands the service has sent so far."""
    with database.system_session() as session:
        return {
            row.event_id
            for row in session.scalars(select(OutboxEvent))
            if row.envelope["type"] == "dsw.training.run.requested"
        }


def commands_received(client: TestClient) -> set[str]:
    """The ids of the run commands that woke the service's run workers."""
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        return set(
            session.scalars(
                select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "training.runs")
            )
        )
