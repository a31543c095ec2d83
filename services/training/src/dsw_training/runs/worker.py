"""The training worker: claims queued runs and executes them in child processes.

A run is claimed with a lease that a heartbeat renews (``dsw_kit.work``); running runs whose lease
expired (their worker died) are claimable again, up to ``run_max_attempts``. The worker starts the
training process (see executor.py), writes its progress to the run's row and publishes it as
events (both throttled), copies its log to the lake, kills it when the run is cancelled or out of
time, and records the outcome in one transaction that checks it still owns the run.
"""

from __future__ import annotations

import io
import logging
import math
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.calls import ServiceCaller, raise_for_problem
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import EventConsumer, EventPublisher
from dsw_kit.lake import Lake
from dsw_kit.sandbox import resolve_sandbox
from dsw_kit.work import Claim, LeasedWorker, LeaseLost, WorkQueue, worker_identity
from dsw_training.models import ProcessedEvent, TrainingModel, TrainingRun
from dsw_training.runs.executor import ChildProcess, ChildResult, scrubbed_environment
from dsw_training.runs.logs import log_path, tail_lines, upload_log
from dsw_training.runs.service import record_metrics, run_event
from dsw_training.settings import TrainingSettings
from dsw_training.upstream import Upstreams

logger = logging.getLogger("dsw.training.worker")

RECIPES_SCOPES = ["recipes:read"]


class RunWatch:
    """What the worker learns while a child runs: progress to write (throttled), cancellation."""

    def __init__(self, worker: TrainingWorker, claim: Claim, log_file: Path, log_lake_path: str):
        self.worker = worker
        self.claim = claim
        self.log_file = log_file
        self.log_lake_path = log_lake_path
        self.lost = False
        self.pending: dict[str, Any] | None = None
        self.last_stage: str | None = None
        self.last_write = 0.0
        self.last_event = 0.0
        self.last_log_sync = time.monotonic()
        self.intermediate: list[list[float]] = []
        self.intermediate_metric: dict[str, Any] = {}
        self.intermediate_written = 0

    def on_message(self, message: dict[str, Any]) -> None:
        if message["kind"] == "started":
            self._write(
                {
                    "mlflow_run_id": message["mlflow_run_id"],
                    "mlflow_experiment_id": message["experiment_id"],
                },
                event=False,
            )
        elif message["kind"] == "progress":
            self.pending = {
                "stage": str(message["stage"])[:64],
                "percent": float(message["percent"]),
                "rows": message.get("rows"),
            }
            self._flush_progress(force=message["stage"] != self.last_stage)
        elif message["kind"] == "intermediate":
            self.intermediate.append([int(message["step"]), float(message["value"])])
            self.intermediate_metric = {
                "intermediate_metric": str(message.get("metric") or "")[:128],
                "intermediate_higher_is_better": bool(message.get("higher_is_better")),
            }

    def on_tick(self) -> None:
        self._flush_progress(force=False)
        self._flush_intermediate()
        settings = self.worker.settings
        if time.monotonic() - self.last_log_sync >= settings.log_sync_seconds:
            self.last_log_sync = time.monotonic()
            self.worker.sync_log(self.log_file, self.log_lake_path)

    def cancelled(self) -> bool:
        if self.lost or self.worker.stopping.is_set():
            return True
        with self.worker.database.system_session() as session:
            wanted = session.scalar(
                select(TrainingRun.cancel_requested).where(TrainingRun.id == self.claim.job_id)
            )
        return bool(wanted)

    def _flush_progress(self, *, force: bool) -> None:
        if self.pending is None:
            return
        settings = self.worker.settings
        now = time.monotonic()
        if not force and now - self.last_write < settings.progress_write_seconds:
            return
        stage_changed = self.pending["stage"] != self.last_stage
        event = stage_changed or now - self.last_event >= settings.progress_event_seconds
        self._write(self.pending, event=event)
        self.last_stage = self.pending["stage"]
        self.pending = None
        self.last_write = now
        if event:
            self.last_event = now

    def _flush_intermediate(self) -> None:
        # The whole (short: see child._reported_step) series, so a sweep driver reads it at once.
        if len(self.intermediate) == self.intermediate_written:
            return
        now = time.monotonic()
        if now - self.last_write < self.worker.settings.progress_write_seconds:
            return
        self.intermediate_written = len(self.intermediate)
        self._write(
            {"intermediate": list(self.intermediate), **self.intermediate_metric}, event=False
        )
        self.last_write = now

    def _write(self, values: dict[str, Any], *, event: bool) -> None:
        claim = self.claim
        with self.worker.database.system_session() as session:
            result = session.execute(
                update(TrainingRun)
                .where(
                    TrainingRun.id == claim.job_id,
                    TrainingRun.lease_owner == claim.owner,
                    TrainingRun.state == "running",
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 0:
                self.lost = True
                return
            if event:
                run = session.get(TrainingRun, claim.job_id)
                assert run is not None
                self.worker.publisher.publish(
                    session, claim.tenant, "dsw.training.run.progress", str(run.id), run_event(run)
                )


class TrainingWorker:
    """Executes training runs of one training deployment."""

    def __init__(self, runtime: ServiceRuntime, recipes: ServiceCaller | None = None) -> None:
        settings = runtime.settings
        assert isinstance(settings, TrainingSettings)
        self.settings = settings
        # Downloads the packages of custom recipes (with a service token for the run's tenant).
        self.recipes = recipes or Upstreams.build(settings, runtime.authenticator).recipes
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.lake = Lake(settings.platform.resolved_lake_uri)
        self.sandbox = resolve_sandbox(
            settings.sandbox,
            component="training.runs",
            hidden=[settings.platform.resolved_home],
            max_processes=settings.sandbox_max_processes,
        )
        self.stopping = threading.Event()
        self._child_lock = threading.Lock()
        self._next_child: ChildProcess | None = None
        self.queue = WorkQueue(
            runtime.database,
            TrainingRun,
            state_attribute="state",
            # A running run is claimable again once its lease expired: its worker died.
            claimable=("queued", "running"),
            owner=worker_identity("training-runs"),
            lease_seconds=settings.run_lease_seconds,
            max_attempts=settings.run_max_attempts,
            on_claim=self._start,
            on_exhausted=self._give_up,
        )

    # -- claim -------------------------------------------------------------------------------

    @staticmethod
    def _start(run: TrainingRun) -> None:
        run.state = "running"
        run.started_at = utcnow()
        run.stage, run.percent, run.rows = "starting", 0.0, None

    def _give_up(self, session: Session, run: TrainingRun) -> None:
        run.state = "failed"
        reason = run.last_error or "the workers running it stopped responding"
        run.error = f"training did not finish after {run.attempts} attempts: {reason}"
        run.finished_at = utcnow()
        self.publisher.publish(
            session,
            Tenant(run.org_id, run.sandbox),
            "dsw.training.run.failed",
            str(run.id),
            run_event(run),
        )

    # -- one run -----------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        """Run one attempt of the claimed run and record how it ended."""
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            if run.cancel_requested:
                self._finish(session, run, claim.tenant, "cancelled")
                return
            model = session.get(TrainingModel, run.model_id)
            assert model is not None
            job = self._job(run, model, claim)
            self.publisher.publish(
                session, claim.tenant, "dsw.training.run.started", str(run.id), run_event(run)
            )
        # The child's own folder (see executor.py): it never serves another run.
        child = self._take_child()
        log_file = child.log_file
        lake_log = log_path(self.lake, claim.tenant, claim.job_id, claim.attempt)
        logger.info("training run %s (attempt %d)", claim.job_id, claim.attempt)
        try:
            if job.get("package_hash"):
                job["package_dir"] = str(self._fetch_package(claim.tenant, job, child.package))
            watch = RunWatch(self, claim, log_file, lake_log)
            result = child.run(
                job,
                watch.on_message,
                time_limit_seconds=self.settings.run_time_limit_seconds,
                cancelled=watch.cancelled,
                on_tick=watch.on_tick,
                poll_seconds=self.settings.cancel_poll_seconds,
            )
            if not self.stopping.is_set():
                self.prepare_child()  # the next run's process imports while we record this one
            self.sync_log(log_file, lake_log)
            if watch.lost:
                raise LeaseLost(f"run {claim.job_id} was taken over by another worker")
            self._record(claim, result, log_file, watch)
        finally:
            child.discard()  # removes its folder (and stops it if the package could not be had)

    def prepare_child(self) -> None:
        """Start the process of the next run now, so that its imports are done when it comes."""
        with self._child_lock:
            if self._next_child is not None and not self._next_child.alive:
                self._next_child.discard()  # it died waiting: free its folder
            if self._next_child is None or not self._next_child.alive:
                self._next_child = ChildProcess(
                    env=scrubbed_environment(
                        self.settings.run_passed_environment,
                        threads=self.settings.run_threads,
                        home=self.settings.resolved_work_dir,
                    ),
                    cwd=self.settings.resolved_work_dir,
                    sandbox=self.sandbox,
                )

    def _take_child(self) -> ChildProcess:
        self.prepare_child()
        with self._child_lock:
            child, self._next_child = self._next_child, None
        assert child is not None
        return child

    def discard_child(self) -> None:
        """Stop the process waiting for the next run (the worker stops)."""
        with self._child_lock:
            child, self._next_child = self._next_child, None
        if child is not None:
            child.discard()

    def _job(self, run: TrainingRun, model: TrainingModel, claim: Claim) -> dict[str, Any]:
        tracking_uri = self.settings.platform.resolved_mlflow_tracking_uri
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return {
            "run_id": str(run.id),
            "model_id": str(model.id),
            "attempt": claim.attempt,
            "recipe_id": model.recipe_id,
            "version_id": model.version_id,
            "entry_point": model.recipe_entry_point,
            "package_hash": model.recipe_package_hash,
            "params": dict(run.params),
            "dataset_id": run.dataset_id,
            "files": list(run.snapshot),
            "window_start": model.window_start.isoformat() if model.window_start else None,
            "window_end": model.window_end.isoformat() if model.window_end else None,
            "tracking_uri": tracking_uri,
            "experiment_name": model.experiment_name,
            "registered_model_name": model.registered_model_name,
            "stale_mlflow_run_id": run.mlflow_run_id,
            "memory_limit_mb": self.settings.run_memory_limit_mb,
            # Sweep trials report LightGBM's per-iteration metric (early stopping feeds on it).
            "report_intermediate": run.sweep_id is not None,
            "parent_pid": os.getpid(),
        }

    def _fetch_package(self, tenant: Tenant, job: dict[str, Any], target: Path) -> Path:
        """Download the custom recipe's package and unpack it (safely) into ``target``, the
        training process's (read-only) package folder.

        Failing here (the registry is down) leaves the run to be retried after its lease.
        """
        url = f"/recipes/v1/recipes/{job['recipe_id']}/versions/{job['version_id']}/package"
        with self.recipes.for_service(tenant, RECIPES_SCOPES) as client:
            response = client.get(url)
        raise_for_problem(response)
        served = response.headers.get("x-content-hash")
        if served != job["package_hash"]:
            raise RuntimeError(
                f"the registry served package {served}, the model names {job['package_hash']}"
            )
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            archive.extractall(target, filter="data")
        return target

    def sync_log(self, local: Path, destination: str) -> None:
        """Copy the run's log to the lake (best effort while running)."""
        try:
            upload_log(self.lake, local, destination)
        except OSError:
            logger.warning("could not copy the log of %s to the lake", destination, exc_info=True)

    def _record(self, claim: Claim, result: ChildResult, log_file: Path, watch: RunWatch) -> None:
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            if watch.intermediate:
                # The complete series (writes while running are throttled).
                run.intermediate = list(watch.intermediate)
                run.intermediate_metric = watch.intermediate_metric["intermediate_metric"]
                run.intermediate_higher_is_better = watch.intermediate_metric[
                    "intermediate_higher_is_better"
                ]
            if result.outcome == "cancelled" and not run.cancel_requested:
                # This worker is stopping: hand the run back without spending an attempt.
                run.state, run.stage, run.percent = "queued", None, 0.0
                run.attempts = max(0, run.attempts - 1)
                self.queue.release(run)
                logger.info("run %s handed back to the queue (worker stopping)", run.id)
                return
            if result.outcome == "succeeded":
                outcome = result.result
                run.metrics = dict(outcome["metrics"])
                run.baseline_metrics = _finite(outcome.get("baseline_metrics"))
                run.feature_importance = _finite(outcome.get("feature_importance"))
                run.mlflow_run_id = outcome["mlflow_run_id"]
                run.mlflow_experiment_id = outcome["experiment_id"]
                run.model_uri = outcome["model_uri"]
                run.registered_model = outcome["registered_model"]
                run.model_version = outcome["model_version"]
                rows = outcome.get("rows") or {}
                run.rows = int(rows.get("prepared", 0)) or run.rows
                run.stage, run.percent = "done", 100.0
                record_metrics(session, run, run.metrics)
                self._finish(session, run, claim.tenant, "succeeded")
            elif result.outcome == "cancelled":
                self._finish(session, run, claim.tenant, "cancelled")
            else:
                run.error = result.error
                run.log_tail = tail_lines(log_file, self.settings.log_tail_lines)
                self._finish(session, run, claim.tenant, "failed")
        logger.info("run %s %s", claim.job_id, result.outcome)

    def _finish(self, session: Session, run: TrainingRun, tenant: Tenant, state: str) -> None:
        run.state = state
        run.finished_at = utcnow()
        self.queue.release(run)
        session.flush()
        self.publisher.publish(
            session, tenant, f"dsw.training.run.{state}", str(run.id), run_event(run)
        )


class TrainingWorkers(BackgroundGroup):
    """The leased worker and the consumer of run commands that wakes it early."""

    def __init__(self, training: TrainingWorker, *components: Any) -> None:
        super().__init__(*components)
        self.training = training

    def start(self) -> None:
        self.training.prepare_child()
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        # Kill a run in progress and hand it back rather than leave it to the lease expiry.
        self.training.stopping.set()
        super().stop(timeout)
        self.training.discard_child()


def training_worker(
    runtime: ServiceRuntime, recipes: ServiceCaller | None = None
) -> BackgroundGroup:
    """The training worker (``dsw-training worker runs``) and its wake-up consumer."""
    training = TrainingWorker(runtime, recipes)
    worker: LeasedWorker[TrainingRun] = LeasedWorker(
        training.queue,
        training.process,
        poll_seconds=training.settings.run_poll_seconds,
        name="training-runs",
    )
    wakeup = EventConsumer(
        name="training.runs",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=["dsw.training.commands"],
        handler=lambda session, event: worker.wake(),
        event_types={"dsw.training.run.requested"},
        bootstrap=runtime.settings.platform.kafka_bootstrap,
        group_id=runtime.settings.platform.kafka_group_prefix + "training.runs",
        partitions_per_topic=runtime.settings.platform.kafka_partitions,
    )
    return TrainingWorkers(training, worker, wakeup)


def _finite(values: dict[str, Any] | None) -> dict[str, float] | None:
    """Name -> value with non-finite values left out (JSON has no NaN), or None."""
    if values is None:
        return None
    return {
        name: float(value)
        for name, value in values.items()
        if isinstance(value, int | float) and math.isfinite(float(value))
    }
