"""The sweep driver: keeps each running sweep's trials going until its budget is spent.

A driver claims a sweep with a lease (renewed by heartbeat) and, every ``sweep_poll_seconds``,
looks at the sweep's trials (training runs with its ``sweep_id``): it queues new ones while fewer
than ``parallelism`` are queued or running and the trial and time budgets allow, asks the strategy
for their hyperparameters (from the finished trials, so a new driver resumes where a dead one
stopped), and finishes the sweep with its best run. Cancelling a sweep cancels its open trials.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsw_contracts import TrainingRunRequested, TrainingSweepFinished
from dsw_kit.app import ServiceRuntime
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import EventPublisher
from dsw_kit.work import Claim, LeasedWorker, WorkQueue, worker_identity
from dsw_training.ml_models.recipes import ResolvedRecipe, validate_hyperparameters
from dsw_training.models import Sweep, TrainingModel, TrainingRun
from dsw_training.runs.service import run_event
from dsw_training.settings import TrainingSettings
from dsw_training.sweeps.pruning import prune_reason
from dsw_training.sweeps.strategies import suggest

logger = logging.getLogger("dsw.training.sweeps")

OPEN = ("queued", "running")


class SweepDriver:
    """Drives the sweeps of one training deployment."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, TrainingSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.stopping = threading.Event()
        self.queue = WorkQueue(
            runtime.database,
            Sweep,
            state_attribute="state",
            claimable=("running",),
            owner=worker_identity("training-sweeps"),
            lease_seconds=settings.sweep_lease_seconds,
            max_attempts=settings.sweep_max_attempts,
            on_exhausted=self._give_up,
        )

    def process(self, claim: Claim) -> None:
        """Drive the claimed sweep until it ends; a stopping driver hands the lease back."""
        while not self.stopping.is_set():
            if self.step(claim):
                return
            self.stopping.wait(self.settings.sweep_poll_seconds)
        with self.database.system_session() as session:
            sweep = self.queue.owned(session, claim)
            sweep.attempts = max(0, sweep.attempts - 1)
            self.queue.release(sweep)

    def step(self, claim: Claim) -> bool:
        """One look at the sweep: queue trials, or finish it; whether it ended."""
        with self.database.system_session() as session:
            sweep = self.queue.owned(session, claim)
            trials = list(
                session.scalars(
                    select(TrainingRun)
                    .where(TrainingRun.sweep_id == sweep.id)
                    .order_by(TrainingRun.created)
                )
            )
            open_trials = [run for run in trials if run.state in OPEN]
            tenant = claim.tenant
            if sweep.cancel_requested:
                self._cancel_trials(session, tenant, open_trials)
                self._finish(session, sweep, trials, tenant, "cancelled")
                return True
            out_of_time = (utcnow() - sweep.created).total_seconds() >= sweep.max_seconds
            if out_of_time and open_trials:
                self._cancel_trials(session, tenant, open_trials)
                open_trials = []
            if sweep.early_stopping and not out_of_time:
                self._prune(session, sweep, trials)
            model = session.get(TrainingModel, sweep.model_id)
            assert model is not None
            grid_done = False
            room = min(sweep.parallelism - len(open_trials), sweep.max_trials - len(trials))
            if not out_of_time and model.deleted_at is None:
                history = self._history(sweep, trials)
                for offset in range(max(0, room)):
                    params = suggest(
                        sweep.strategy,
                        sweep.space,
                        seed=sweep.seed,
                        index=len(trials) + offset,
                        history=history,
                        direction=sweep.direction,
                        max_trials=sweep.max_trials,
                    )
                    if params is None:
                        grid_done = True
                        break
                    open_trials.append(self._queue_trial(session, tenant, sweep, model, params))
                    sweep.trials_started += 1
            if open_trials:
                return False
            if len(trials) >= sweep.max_trials or out_of_time or grid_done:
                self._finish(session, sweep, trials, tenant, None)
                return True
            if model.deleted_at is not None:
                self._finish(session, sweep, trials, tenant, "cancelled")
                return True
            return False

    @staticmethod
    def _prune(session: Session, sweep: Sweep, trials: list[TrainingRun]) -> None:
        """Ask running trials that do clearly worse than the finished ones to stop."""
        finished = [run.intermediate for run in trials if run.state == "succeeded"]
        for run in trials:
            if run.state != "running" or run.cancel_requested or not run.intermediate:
                continue
            reason = prune_reason(
                sweep.early_stopping or {},
                higher_is_better=bool(run.intermediate_higher_is_better),
                finished=finished,
                current=run.intermediate,
                metric=run.intermediate_metric or "metric",
            )
            if reason is None:
                continue
            # Guarded: the worker may be finishing the run right now.
            session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run.id, TrainingRun.state == "running")
                .values(cancel_requested=True, cancel_reason=reason)
                .execution_options(synchronize_session=False)
            )
            logger.info("sweep %s: trial %s %s", sweep.id, run.id, reason)

    @staticmethod
    def _history(
        sweep: Sweep, trials: list[TrainingRun]
    ) -> list[tuple[dict[str, Any], float | None]]:
        found: list[tuple[dict[str, Any], float | None]] = []
        for run in trials:
            if run.state == "succeeded":
                value = (run.metrics or {}).get(sweep.objective_metric)
                found.append((dict(run.params), None if value is None else float(value)))
            elif run.state == "failed":
                found.append((dict(run.params), None))
        return found

    def _queue_trial(
        self,
        session: Session,
        tenant: Tenant,
        sweep: Sweep,
        model: TrainingModel,
        params: dict[str, Any],
    ) -> TrainingRun:
        recipe = ResolvedRecipe.of_model(model)
        overrides = {**sweep.fixed_hyperparameters, **params}
        run = TrainingRun(
            id=uuid.uuid4(),
            org_id=tenant.org_id,
            sandbox=tenant.sandbox,
            model_id=model.id,
            state="queued",
            params=validate_hyperparameters(recipe, {**model.hyperparameters, **overrides}),
            param_overrides=overrides,
            dataset_id=sweep.dataset_id,
            snapshot=list(sweep.snapshot),
            trigger="sweep",
            sweep_id=sweep.id,
            created_by=f"sweep:{sweep.id}",
        )
        session.add(run)
        session.flush()
        self.publisher.publish(
            session, tenant, "dsw.training.run.queued", str(run.id), run_event(run)
        )
        self.publisher.publish(
            session,
            tenant,
            "dsw.training.run.requested",
            str(run.id),
            TrainingRunRequested(run_id=str(run.id), model_id=str(model.id)),
        )
        return run

    def _cancel_trials(self, session: Session, tenant: Tenant, runs: list[TrainingRun]) -> None:
        for run in runs:
            if run.state == "queued":
                run.state, run.cancel_requested, run.finished_at = "cancelled", True, utcnow()
                WorkQueue.release(run)
                session.flush()
                self.publisher.publish(
                    session, tenant, "dsw.training.run.cancelled", str(run.id), run_event(run)
                )
            else:
                session.execute(
                    update(TrainingRun)
                    .where(TrainingRun.id == run.id, TrainingRun.state == "running")
                    .values(cancel_requested=True)
                    .execution_options(synchronize_session=False)
                )

    def _finish(
        self,
        session: Session,
        sweep: Sweep,
        trials: list[TrainingRun],
        tenant: Tenant,
        state: str | None,
    ) -> None:
        scored = [
            (float(run.metrics[sweep.objective_metric]), run.id)
            for run in trials
            if run.state == "succeeded"
            and sweep.objective_metric in (run.metrics or {})
            and math.isfinite(float(run.metrics[sweep.objective_metric]))
        ]
        if scored:
            pick = min if sweep.direction == "min" else max
            sweep.best_value, sweep.best_run_id = pick(scored, key=lambda item: item[0])
        if state is None:
            state = "succeeded" if scored else "failed"
            if not scored:
                sweep.error = f"no trial produced the metric {sweep.objective_metric!r}"
        sweep.state = state
        sweep.finished_at = utcnow()
        self.queue.release(sweep)
        self._announce(session, sweep, tenant, len(trials))
        logger.info("sweep %s %s (best %s)", sweep.id, state, sweep.best_value)

    def _announce(self, session: Session, sweep: Sweep, tenant: Tenant, trials: int) -> None:
        self.publisher.publish(
            session,
            tenant,
            "dsw.training.sweep.finished",
            str(sweep.id),
            TrainingSweepFinished(
                sweep_id=str(sweep.id),
                model_id=str(sweep.model_id),
                state=sweep.state,
                trials=trials,
                objective=sweep.objective_metric,
                best_run_id=str(sweep.best_run_id) if sweep.best_run_id else None,
                best_value=sweep.best_value,
            ),
        )

    def _give_up(self, session: Session, sweep: Sweep) -> None:
        sweep.state = "failed"
        sweep.error = f"the sweep's drivers stopped {sweep.attempts} times: {sweep.last_error}"
        sweep.finished_at = utcnow()
        self._announce(session, sweep, Tenant(sweep.org_id, sweep.sandbox), sweep.trials_started)


class SweepDrivers(LeasedWorker[Sweep]):
    """A leased worker over sweeps that hands its sweep back when stopped."""

    def __init__(self, driver: SweepDriver) -> None:
        super().__init__(
            driver.queue,
            driver.process,
            poll_seconds=driver.settings.sweep_poll_seconds,
            name="training-sweeps",
        )
        self.driver = driver

    def stop(self, timeout: float = 10.0) -> None:
        self.driver.stopping.set()
        super().stop(timeout)


def sweep_driver(runtime: ServiceRuntime) -> SweepDrivers:
    """The sweep driver (``dsw-training worker sweeps``)."""
    return SweepDrivers(SweepDriver(runtime))
