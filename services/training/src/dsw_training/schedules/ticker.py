"""The schedule ticker: starts the runs of due schedules (``dsw-training worker schedules``).

Every ``schedule_poll_seconds`` it looks for enabled schedules whose cron tick has come or whose
dataset got new data, and visits each one:

- a tick missed while no ticker ran fires once (``dsw_kit.schedules.due_tick``), and the next
  tick is the first after now;
- while the schedule's previous run is queued or running, a cron tick is skipped and the reason
  recorded; new data stays pending and gets its run once the previous one ends;
- the schedule's row is claimed with ``UPDATE ... WHERE id = :id AND version = :seen`` in the same
  transaction as the run it starts, so two tickers (or a ticker and an edit) never both fire it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dsw_contracts import EventPayload
from dsw_contracts._training import TrainingScheduleTicked
from dsw_kit.app import ServiceRuntime
from dsw_kit.calls import ServiceCaller
from dsw_kit.db import Tenant, utcnow
from dsw_kit.errors import ProblemError, ServiceUnavailable
from dsw_kit.events import EventPublisher
from dsw_kit.schedules import DueTick, due_tick
from dsw_training.datasets.catalog import dataset_snapshot
from dsw_training.ml_models.recipes import ResolvedRecipe, validate_hyperparameters
from dsw_training.models import TrainingModel, TrainingRun, TrainingSchedule
from dsw_training.runs.service import queue_run
from dsw_training.settings import TrainingSettings

logger = logging.getLogger("dsw.training.schedules")

OPEN_STATES = ("queued", "running")
CATALOG_SCOPES = ["catalog:read"]


@dataclass(frozen=True)
class Plan:
    """What a visit found: which trigger is due, the cron decision, and the run's inputs."""

    schedule_id: uuid.UUID
    seen_version: int
    tenant: Tenant
    trigger: str
    tick: DueTick
    model_id: uuid.UUID
    dataset_id: str
    params: dict[str, Any]
    overrides: dict[str, Any]


class ScheduleTicker:
    """Fires due schedules; one thread, or driven by tests through :meth:`tick`."""

    def __init__(self, runtime: ServiceRuntime, catalog: ServiceCaller) -> None:
        settings = runtime.settings
        assert isinstance(settings, TrainingSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.catalog = catalog
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- background component -----------------------------------------------------------------

    def start(self) -> None:
        """Tick in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="training-schedules", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current visit."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("schedule tick failed; retrying")
            self._stop.wait(self.settings.schedule_poll_seconds)

    # -- one tick -----------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Visit every due schedule once; counts of outcomes (fired, skipped, waiting, lost)."""
        now = now or utcnow()
        with self.database.system_session() as session:
            due = session.scalars(
                select(TrainingSchedule.id)
                .where(
                    TrainingSchedule.enabled.is_(True),
                    or_(
                        TrainingSchedule.next_fire_at <= now,
                        TrainingSchedule.pending_data_at.is_not(None),
                    ),
                )
                .order_by(TrainingSchedule.next_fire_at)
                .limit(100)
            ).all()
        outcomes: dict[str, int] = {}
        for schedule_id in due:
            outcome = self.visit(schedule_id, now)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes

    def visit(self, schedule_id: uuid.UUID, now: datetime) -> str:
        """Fire, skip or leave one schedule; what happened."""
        with self.database.system_session() as session:
            plan = self._plan(session, schedule_id, now)
        if isinstance(plan, str):
            return plan
        try:
            with self.catalog.for_service(plan.tenant, CATALOG_SCOPES) as catalog:
                snapshot = dataset_snapshot(catalog, plan.dataset_id)
        except ServiceUnavailable:
            return "waiting"  # the catalog is down: try again at the next poll
        except ProblemError as error:
            return self._skip(plan, now, f"the dataset cannot be read: {error.detail}")
        return self._fire(plan, now, snapshot)

    def _plan(self, session: Session, schedule_id: uuid.UUID, now: datetime) -> Plan | str:
        schedule = session.get(TrainingSchedule, schedule_id)
        if schedule is None or not schedule.enabled:
            return "waiting"
        cron = schedule.cron_schedule()
        tick = due_tick(cron, schedule.next_fire_at, now) if cron else DueTick(False, None, None)
        data_due = schedule.pending_data_at is not None and self._in_window(schedule, now)
        if schedule.pending_data_at is not None and schedule.end and now >= schedule.end:
            # The window closed: the pending data will never get a run from this schedule.
            _claim(session, schedule, pending_data_at=None, pending_batch_id=None)
            return "waiting"
        if not (tick.due or data_due):
            return "waiting"
        model = session.get(TrainingModel, schedule.model_id)
        assert model is not None
        if model.deleted_at is not None:
            _claim(session, schedule, enabled=False, next_fire_at=None, pending_data_at=None)
            return "disabled"
        previous = session.execute(
            select(TrainingRun.id, TrainingRun.state)
            .where(TrainingRun.schedule_id == schedule.id, TrainingRun.state.in_(OPEN_STATES))
            .limit(1)
        ).first()
        plan = Plan(
            schedule_id=schedule.id,
            seen_version=schedule.version,
            tenant=Tenant(schedule.org_id, schedule.sandbox),
            trigger="cron" if tick.due else "new_data",
            tick=tick,
            model_id=model.id,
            dataset_id=model.dataset_id,
            params={},
            overrides=dict(schedule.hyperparameters),
        )
        if previous is not None:
            if not tick.due:
                return "waiting"  # new data waits for the previous run to end
            reason = f"the previous run {previous.id} of this schedule is still {previous.state}"
            return self._record_skip(session, schedule, plan, now, reason)
        try:
            params = validate_hyperparameters(
                ResolvedRecipe.of_model(model), {**model.hyperparameters, **plan.overrides}
            )
        except ProblemError as error:
            return self._record_skip(session, schedule, plan, now, str(error.detail))
        return Plan(**{**plan.__dict__, "params": params})

    @staticmethod
    def _in_window(schedule: TrainingSchedule, now: datetime) -> bool:
        return (schedule.start is None or schedule.start <= now) and (
            schedule.end is None or now < schedule.end
        )

    def _skip(self, plan: Plan, now: datetime, reason: str) -> str:
        with self.database.system_session() as session:
            schedule = session.get(TrainingSchedule, plan.schedule_id)
            if schedule is None or schedule.version != plan.seen_version:
                return "lost"
            return self._record_skip(session, schedule, plan, now, reason)

    def _record_skip(
        self, session: Session, schedule: TrainingSchedule, plan: Plan, now: datetime, reason: str
    ) -> str:
        """Consume the due triggers without a run, and say why (row, counter, event)."""
        values: dict[str, Any] = {
            "skipped_count": schedule.skipped_count + 1,
            "last_skipped_at": now,
            "last_skip_reason": reason[:2000],
        }
        if plan.tick.due:
            values["next_fire_at"] = plan.tick.next_fire_at
        if plan.trigger == "new_data":
            values.update(pending_data_at=None, pending_batch_id=None)
        if not _claim(session, schedule, seen=plan.seen_version, **values):
            return "lost"
        self._announce(session, plan, "skipped", reason=reason)
        logger.info("schedule %s skipped: %s", plan.schedule_id, reason)
        return "skipped"

    def _fire(self, plan: Plan, now: datetime, snapshot: list[dict[str, Any]]) -> str:
        run_id = uuid.uuid4()
        with self.database.system_session() as session:
            schedule = session.get(TrainingSchedule, plan.schedule_id)
            if schedule is None:
                return "lost"
            values: dict[str, Any] = {
                "fired_count": schedule.fired_count + 1,
                "last_fired_at": now,
                "last_run_id": run_id,
                # One run trains on all the data there is: it answers any pending new data too.
                "pending_data_at": None,
                "pending_batch_id": None,
            }
            if plan.tick.due:
                values["next_fire_at"] = plan.tick.next_fire_at
            if not _claim(session, schedule, seen=plan.seen_version, **values):
                return "lost"  # another ticker fired it, or someone edited it meanwhile
            model = session.get(TrainingModel, plan.model_id)
            assert model is not None

            def publish(event_type: str, subject: str, payload: EventPayload) -> None:
                self.publisher.publish(session, plan.tenant, event_type, subject, payload)

            queue_run(
                session,
                publish,
                model,
                params=plan.params,
                overrides=plan.overrides,
                dataset_id=plan.dataset_id,
                snapshot=snapshot,
                trigger="schedule" if plan.trigger == "cron" else "new_data",
                created_by=f"schedule:{plan.schedule_id}",
                schedule_id=plan.schedule_id,
                run_id=run_id,
            )
            self._announce(session, plan, "fired", run_id=str(run_id))
        logger.info("schedule %s started run %s (%s)", plan.schedule_id, run_id, plan.trigger)
        return "fired"

    def _announce(self, session: Session, plan: Plan, outcome: str, **fields: Any) -> None:
        self.publisher.publish(
            session,
            plan.tenant,
            f"dsw.training.schedule.{outcome}",
            str(plan.schedule_id),
            TrainingScheduleTicked(
                schedule_id=str(plan.schedule_id),
                model_id=str(plan.model_id),
                trigger=plan.trigger,
                outcome=outcome,
                missed_ticks=plan.tick.missed,
                **fields,
            ),
        )


def _claim(
    session: Session, schedule: TrainingSchedule, *, seen: int | None = None, **values: Any
) -> bool:
    """Update the schedule's row only if it is still at version ``seen`` (default: as read)."""
    version = schedule.version if seen is None else seen
    result = session.execute(
        update(TrainingSchedule)
        .where(TrainingSchedule.id == schedule.id, TrainingSchedule.version == version)
        .values(version=version + 1, updated=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def schedule_ticker(runtime: ServiceRuntime, catalog: ServiceCaller) -> ScheduleTicker:
    """The schedule ticker (``dsw-training worker schedules``)."""
    return ScheduleTicker(runtime, catalog)
