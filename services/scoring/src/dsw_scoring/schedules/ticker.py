"""The scheduler: fires due cron ticks and new-data triggers; hears the catalog's new batches.

``dsw-scoring worker schedules`` (or the API process, embedded) runs one ticker thread and one
consumer of the catalog's events. The consumer only records a new batch on the schedules that
watch its dataset (short handler, in the event's transaction) and wakes the ticker, which starts
the runs. Several tickers may run: firing checks the schedule's version, so one of them wins.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dsw_contracts import BatchCompleted
from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import CloudEvent, EventConsumer
from dsw_scoring.models import ProcessedEvent, ScoringSchedule
from dsw_scoring.schedules.service import fire
from dsw_scoring.settings import ScoringSettings
from dsw_scoring.upstream import upstreams_of

logger = logging.getLogger("dsw.scoring.ticker")

CATALOG_EVENTS = "dsw.catalog.events"


class ScheduleTicker:
    """Looks for due schedules every ``schedule_poll_seconds`` (or when woken)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, ScoringSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher = runtime.publisher
        self.upstreams = upstreams_of(runtime)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scoring-schedules", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick_once()
            except Exception:
                logger.exception("scheduler pass failed; retrying")
            self._wake.wait(self.settings.schedule_poll_seconds)
            self._wake.clear()

    def candidates(self) -> list[tuple[Any, Tenant]]:
        """Enabled schedules that may have something to fire now."""
        now = utcnow()
        with self.database.system_session() as session:
            rows = session.scalars(select(ScoringSchedule).where(ScoringSchedule.enabled)).all()
            return [
                (row.id, Tenant(row.org_id, row.sandbox))
                for row in rows
                if (row.next_fire_at is not None and row.next_fire_at <= now) or row.pending_batches
            ]

    def tick_once(self) -> int:
        """Fire what is due; the number of runs started."""
        started = 0
        tracking_uri = self.settings.platform.resolved_mlflow_tracking_uri
        for schedule_id, tenant in self.candidates():
            try:
                with self.database.session(tenant) as session:
                    schedule = session.get(ScoringSchedule, schedule_id)
                    if schedule is None or not schedule.enabled:
                        continue
                    publish = functools.partial(self.publisher.publish, session, tenant)
                    run = fire(session, schedule, self.upstreams, publish, tracking_uri, utcnow())
                    session.flush()
                started += run is not None
            except (StaleDataError, IntegrityError):
                logger.info("schedule %s fired by another scheduler", schedule_id)
        return started


def record_new_batch(session: Session, event: CloudEvent) -> None:
    """Queue a new successful batch on the schedules (of the event's tenant) watching its data."""
    batch = BatchCompleted.model_validate(event.data)
    schedules = session.scalars(
        select(ScoringSchedule).where(
            ScoringSchedule.input_dataset_id == batch.dataset_id,
            ScoringSchedule.on_new_data,
            ScoringSchedule.enabled,
        )
    ).all()
    for schedule in schedules:
        if event.time < schedule.created:
            continue  # data that was there before the schedule is not new to it
        pending = list(schedule.pending_batches or [])
        if batch.batch_id not in pending:
            schedule.pending_batches = [*pending, batch.batch_id]


def schedule_runner(runtime: ServiceRuntime) -> BackgroundGroup:
    """The scheduler (``dsw-scoring worker schedules``) and its catalog events consumer."""
    ticker = ScheduleTicker(runtime)

    def handle(session: Session, event: CloudEvent) -> None:
        record_new_batch(session, event)
        # Wake the ticker once the batch is recorded (committed), not before.
        sa_event.listen(session, "after_commit", lambda _: ticker.wake(), once=True)

    consumer = EventConsumer(
        name="scoring.catalog-events",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=[CATALOG_EVENTS],
        handler=handle,
        event_types={"dsw.catalog.batch.succeeded"},
        bootstrap=runtime.settings.platform.kafka_bootstrap,
        group_id=runtime.settings.platform.kafka_group_prefix + "scoring.catalog-events",
        partitions_per_topic=runtime.settings.platform.kafka_partitions,
    )
    return BackgroundGroup(ticker, consumer)
