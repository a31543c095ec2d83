"""The scoring worker: claims queued runs, scores them in bounded chunks, registers the output.

A run is claimed with a lease that a heartbeat renews (``dsw_kit.work``); running runs whose lease
expired (their worker died) are claimable again, up to ``run_max_attempts``. Scoring happens in
the worker's thread: memory is bounded by the chunk size, and cancellation is checked between
chunks. The output file goes into the run's folder of the lake, then becomes ONE batch of the
output dataset through the catalog's ingestion API (statistics, atomic visibility). The batch is
created with the run's id as ``Idempotency-Key`` and its id kept on the run, so a retried run
re-uses the same batch and never adds a second one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from dsw_recipe import InputField, LoadedModel, RecipeDataError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.calls import raise_for_problem
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import EventConsumer, EventPublisher
from dsw_kit.lake import Lake
from dsw_kit.work import Claim, LeasedWorker, LeaseLost, WorkQueue, worker_identity
from dsw_scoring.models import ProcessedEvent, ScoringRun
from dsw_scoring.runs.logs import RunLog, log_path, run_folder
from dsw_scoring.runs.model_ref import quiet_mlflow
from dsw_scoring.runs.scorer import Scorer, ScoringOutcome, ScoringPlan, ScoringStopped
from dsw_scoring.runs.service import output_columns_of_run, run_event
from dsw_scoring.settings import ScoringSettings
from dsw_scoring.upstream import SERVICE_SCOPES, upstreams_of
from dsw_scoring.warmup import start_warmup, warm_imports

logger = logging.getLogger("dsw.scoring.worker")

OUTPUT_FILE = "predictions.parquet"
_BATCH_FINAL = ("success", "partial", "failed", "aborted")


class RunFailed(Exception):
    """The run cannot succeed whatever the retries (bad data, the catalog refused the output)."""


@dataclass
class RunJob:
    """What one attempt needs of the run, read once when it starts."""

    run_id: str
    tenant: Tenant
    model_uri: str
    plan: ScoringPlan
    output_dataset_id: str
    output_batch_id: str | None


def lake_path(uri: str) -> str:
    """The path of a lake file URI (``file://`` or ``s3://``) for ``pyarrow.fs``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return f"{parsed.netloc}{parsed.path}"
    return parsed.path


class ModelCache:
    """Loaded models by URI: downloaded once to a local folder, a few kept in memory."""

    def __init__(self, folder: Path, tracking_uri: str, size: int) -> None:
        self.folder = folder
        self.tracking_uri = tracking_uri
        self.size = size
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_uri: str) -> LoadedModel:
        warm_imports()
        from dsw_recipe import load_model

        with self._lock:
            if model_uri in self._loaded:
                self._loaded.move_to_end(model_uri)
                return self._loaded[model_uri]
        model = load_model(self._download(model_uri))
        with self._lock:
            self._loaded[model_uri] = model
            while len(self._loaded) > self.size:
                self._loaded.popitem(last=False)
        return model

    def _download(self, model_uri: str) -> Path:
        with quiet_mlflow():
            return self._download_quietly(model_uri)

    def _download_quietly(self, model_uri: str) -> Path:
        import mlflow.artifacts

        target = self.folder / hashlib.sha256(model_uri.encode()).hexdigest()[:24]
        if (target / "MLmodel").exists():
            return target
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="download-", dir=self.folder))
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, tracking_uri=self.tracking_uri, dst_path=str(scratch)
            )
            try:
                os.replace(local, target)
            except OSError:  # another worker of this host put it there first
                if not (target / "MLmodel").exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target


class ScoringWorker:
    """Executes scoring runs of one scoring deployment."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, ScoringSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.upstreams = upstreams_of(runtime)
        self.lake = Lake(settings.platform.resolved_lake_uri)
        self.stopping = threading.Event()
        self.models = ModelCache(
            settings.platform.resolved_home / "scoring-models",
            settings.platform.resolved_mlflow_tracking_uri,
            settings.model_cache_size,
        )
        self.queue = WorkQueue(
            runtime.database,
            ScoringRun,
            state_attribute="state",
            # A running run is claimable again once its lease expired: its worker died.
            claimable=("queued", "running"),
            owner=worker_identity("scoring-runs"),
            lease_seconds=settings.run_lease_seconds,
            max_attempts=settings.run_max_attempts,
            on_claim=self._start,
            on_exhausted=self._give_up,
        )

    # -- claim -------------------------------------------------------------------------------

    @staticmethod
    def _start(run: ScoringRun) -> None:
        run.state = "running"
        run.started_at = run.started_at or utcnow()
        run.stage, run.rows_read, run.rows_scored = "starting", 0, 0

    def _give_up(self, session: Session, run: ScoringRun) -> None:
        reason = run.last_error or "the workers running it stopped responding"
        run.error = f"scoring did not finish after {run.attempts} attempts: {reason}"
        self._finish(session, run, Tenant(run.org_id, run.sandbox), "failed")

    # -- one run -----------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        """Run one attempt of the claimed run and record how it ended."""
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            if run.cancel_requested:
                self._finish(session, run, claim.tenant, "cancelled")
                return
            job = self._job(run, claim)
            self.publisher.publish(
                session, claim.tenant, "dsw.scoring.run.started", str(run.id), run_event(run)
            )
        log = RunLog(self.lake, log_path(self.lake, claim.tenant, claim.job_id, claim.attempt))
        log.write(f"attempt {claim.attempt} on {self.queue.owner}")
        try:
            outcome = self._attempt(claim, job, log)
        except ScoringStopped:
            self._stopped(claim, log)
            return
        except (RunFailed, RecipeDataError) as error:
            log.write(f"failed: {error}")
            self._record_failure(claim, str(error))
            return
        except Exception as error:
            log.write(f"attempt failed ({type(error).__name__}: {error}); it will be retried")
            raise
        finally:
            log.flush()
        self._record_success(claim, outcome, job)
        log.write(f"succeeded: {outcome.rows_scored} rows in batch {job.output_batch_id}")
        log.flush()

    def _attempt(self, claim: Claim, job: RunJob, log: RunLog) -> ScoringOutcome:
        with self.upstreams.catalog.for_service(job.tenant, SERVICE_SCOPES) as catalog:
            batch = self._existing_batch(catalog, job)
            if batch is not None and batch["status"] != "loading":
                log.write(f"output batch {batch['id']} is already {batch['status']}")
                return self._await_batch(catalog, job, str(batch["id"]), log)
            outputs = f"{run_folder(self.lake, job.tenant, claim.job_id)}/output"
            # Each attempt writes its own folder: a worker that lost its lease may still be
            # uploading an earlier attempt's file, which must not be rewritten under it.
            folder = f"{outputs}/attempt-{claim.attempt}"
            self.lake.delete_dir(folder)
            self.lake.make_dirs(folder)
            destination = f"{folder}/{OUTPUT_FILE}"
            outcome = self._score(claim, job, destination, log)
            self._write(claim, stage="registering")
            batch_id = self._register(claim, catalog, job, destination, log)
            ingested = self._await_batch(catalog, job, batch_id, log)
            outcome.bytes_written = ingested.bytes_written
            self.lake.delete_dir(outputs)  # every attempt's: the batch holds the output now
            return outcome

    def _score(self, claim: Claim, job: RunJob, destination: str, log: RunLog) -> ScoringOutcome:
        plan = job.plan
        log.write(f"loading model {job.model_uri}")
        model = self.models.get(job.model_uri)
        path = "booster fast path" if model.fast_path is not None else "recipe score"
        log.write(
            f"scoring {len(plan.files)} file(s) with the {path}, {plan.chunk_rows} rows a chunk"
        )
        self._write(claim, stage="scoring")
        watch = ProgressWatch(self, claim, log)
        outcome = Scorer(model, plan).run(self.lake.filesystem, destination, watch.on_chunk)
        watch.write(outcome.rows_read, outcome.rows_scored)
        log.write(f"scored {outcome.rows_scored} of {outcome.rows_read} rows")
        return outcome

    # -- the output batch ---------------------------------------------------------------------

    def _existing_batch(self, catalog: httpx.Client, job: RunJob) -> dict[str, Any] | None:
        if job.output_batch_id is None:
            return None
        response = catalog.get(f"/catalog/v1/batches/{job.output_batch_id}")
        if response.status_code == 404:
            raise RunFailed(f"the output batch {job.output_batch_id} is gone from the catalog")
        raise_for_problem(response)
        batch: dict[str, Any] = response.json()
        return batch

    def _register(
        self, claim: Claim, catalog: httpx.Client, job: RunJob, source: str, log: RunLog
    ) -> str:
        created = catalog.post(
            f"/catalog/v1/datasets/{job.output_dataset_id}/batches",
            json={"format": "parquet", "tags": ["scoring", f"scoring-run:{job.run_id}"]},
            # The same key on every attempt: one batch per run, whatever the retries.
            headers={"Idempotency-Key": f"scoring-run-{job.run_id}"},
        )
        if created.status_code in (404, 422):
            raise RunFailed(f"the catalog refused the output batch: {created.json().get('detail')}")
        raise_for_problem(created)
        batch_id = str(created.json()["id"])
        if job.output_batch_id != batch_id:
            job.output_batch_id = batch_id
            self._write(claim, output_batch_id=batch_id)
        current = catalog.get(f"/catalog/v1/batches/{batch_id}")
        raise_for_problem(current)
        if current.json()["status"] != "loading":
            return batch_id  # a racing attempt completed it
        size = self.lake.filesystem.get_file_info(source).size or 0
        log.write(f"uploading {size} bytes to batch {batch_id}")
        uploaded = catalog.put(
            f"/catalog/v1/batches/{batch_id}/files/{OUTPUT_FILE}",
            content=self._chunks(source),
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
        raise_for_problem(uploaded)
        completed = catalog.post(f"/catalog/v1/batches/{batch_id}/complete")
        if completed.status_code != 409:  # 409: already completed by a racing attempt
            raise_for_problem(completed)
        return batch_id

    def _chunks(self, source: str) -> Iterator[bytes]:
        with self.lake.filesystem.open_input_stream(source) as handle:
            while chunk := handle.read(4 * 1024 * 1024):
                yield chunk

    def _await_batch(
        self, catalog: httpx.Client, job: RunJob, batch_id: str, log: RunLog
    ) -> ScoringOutcome:
        """Wait until the catalog has ingested the batch; its row counts."""
        deadline = time.monotonic() + self.settings.register_timeout_seconds
        while True:
            response = catalog.get(f"/catalog/v1/batches/{batch_id}")
            raise_for_problem(response)
            batch = response.json()
            if batch["status"] in _BATCH_FINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the catalog did not ingest batch {batch_id} in time")
            time.sleep(self.settings.register_poll_seconds)
        log.write(f"output batch {batch_id}: {batch['status']}, {batch['rows_written']} rows")
        if batch["status"] != "success":
            raise RunFailed(
                f"the catalog did not accept the output batch {batch_id} ({batch['status']}): "
                f"{batch.get('error') or 'rows were rejected'}"
            )
        return ScoringOutcome(
            rows_read=-1,
            rows_scored=int(batch["rows_written"]),
            bytes_written=int(batch["bytes_written"]),
        )

    # -- recording ------------------------------------------------------------------------------

    def _job(self, run: ScoringRun, claim: Claim) -> RunJob:
        inputs = [
            InputField(str(item["name"]), item["type"], required=bool(item.get("required", True)))
            for item in run.model_inputs
        ]
        plan = ScoringPlan(
            files=[lake_path(str(item["uri"])) for item in run.snapshot],
            inputs=inputs,
            input_columns=dict(run.input_columns),
            key_columns=list(run.key_columns),
            output_columns=dict(run.output_columns),
            output_types=output_columns_of_run(run),
            window_field=run.window_field,
            window_start=run.window_start,
            window_end=run.window_end,
            chunk_rows=self.settings.chunk_rows,
        )
        return RunJob(
            run_id=str(run.id),
            tenant=claim.tenant,
            model_uri=run.model_uri,
            plan=plan,
            output_dataset_id=run.output_dataset_id,
            output_batch_id=run.output_batch_id,
        )

    def _write(self, claim: Claim, **values: Any) -> None:
        """Update the run if this worker still owns it (LeaseLost otherwise)."""
        with self.database.system_session() as session:
            result = session.execute(
                update(ScoringRun)
                .where(
                    ScoringRun.id == claim.job_id,
                    ScoringRun.lease_owner == claim.owner,
                    ScoringRun.state == "running",
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise LeaseLost(f"scoring run {claim.job_id} was taken over by another worker")

    def cancel_requested(self, claim: Claim) -> bool:
        with self.database.system_session() as session:
            wanted = session.scalar(
                select(ScoringRun.cancel_requested).where(ScoringRun.id == claim.job_id)
            )
        return bool(wanted)

    def _stopped(self, claim: Claim, log: RunLog) -> None:
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            if run.cancel_requested:
                log.write("cancelled")
                self._finish(session, run, claim.tenant, "cancelled")
                return
            # This worker is stopping: hand the run back without spending an attempt.
            run.state, run.stage = "queued", None
            run.attempts = max(0, run.attempts - 1)
            self.queue.release(run)
            log.write("handed back to the queue (worker stopping)")

    def _record_failure(self, claim: Claim, error: str) -> None:
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            run.error = error[:4000]
            self._finish(session, run, claim.tenant, "failed")

    def _record_success(self, claim: Claim, outcome: ScoringOutcome, job: RunJob) -> None:
        with self.database.system_session() as session:
            run = self.queue.owned(session, claim)
            if outcome.rows_read >= 0:
                run.rows_read = outcome.rows_read
            else:  # the batch was registered by an earlier attempt
                run.rows_read = run.rows_total
            run.rows_scored = outcome.rows_scored
            run.output_batch_id = job.output_batch_id
            run.stage = "done"
            self._finish(session, run, claim.tenant, "succeeded")
        logger.info("scoring run %s succeeded (%d rows)", claim.job_id, outcome.rows_scored)

    def _finish(self, session: Session, run: ScoringRun, tenant: Tenant, state: str) -> None:
        run.state = state
        run.finished_at = utcnow()
        self.queue.release(run)
        session.flush()
        self.publisher.publish(
            session, tenant, f"dsw.scoring.run.{state}", str(run.id), run_event(run)
        )


class ProgressWatch:
    """Called after each chunk: writes progress (throttled) and stops on cancel or shutdown."""

    def __init__(self, worker: ScoringWorker, claim: Claim, log: RunLog) -> None:
        self.worker = worker
        self.claim = claim
        self.log = log
        self.last_write = time.monotonic()
        self.last_cancel_check = time.monotonic()

    def on_chunk(self, rows_read: int, rows_scored: int) -> None:
        settings = self.worker.settings
        now = time.monotonic()
        if self.worker.stopping.is_set():
            raise ScoringStopped("the worker is stopping")
        if now - self.last_cancel_check >= settings.cancel_poll_seconds:
            self.last_cancel_check = now
            if self.worker.cancel_requested(self.claim):
                raise ScoringStopped("cancelled")
        if now - self.last_write >= settings.progress_write_seconds:
            self.last_write = now
            self.write(rows_read, rows_scored)
            self.log.write(f"{rows_read} rows read, {rows_scored} scored")
            self.log.flush()

    def write(self, rows_read: int, rows_scored: int) -> None:
        self.worker._write(self.claim, rows_read=rows_read, rows_scored=rows_scored)


class ScoringWorkers(BackgroundGroup):
    """The leased worker and the consumer of run commands that wakes it early."""

    def __init__(self, scoring: ScoringWorker, *components: Any) -> None:
        super().__init__(*components)
        self.scoring = scoring

    def start(self) -> None:
        start_warmup()
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        # Stop a run in progress at its next chunk and hand it back, rather than wait for the
        # lease to expire.
        self.scoring.stopping.set()
        super().stop(timeout)


def scoring_worker(runtime: ServiceRuntime) -> BackgroundGroup:
    """The scoring worker (``dsw-scoring worker runs``) and its wake-up consumer."""
    scoring = ScoringWorker(runtime)
    worker: LeasedWorker[ScoringRun] = LeasedWorker(
        scoring.queue,
        scoring.process,
        poll_seconds=scoring.settings.run_poll_seconds,
        name="scoring-runs",
    )
    wakeup = EventConsumer(
        name="scoring.runs",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=["dsw.scoring.commands"],
        handler=lambda session, event: worker.wake(),
        event_types={"dsw.scoring.run.requested"},
        bootstrap=runtime.settings.platform.kafka_bootstrap,
        group_id=runtime.settings.platform.kafka_group_prefix + "scoring.runs",
        partitions_per_topic=runtime.settings.platform.kafka_partitions,
    )
    return ScoringWorkers(scoring, worker, wakeup)
