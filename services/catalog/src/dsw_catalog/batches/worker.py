"""The ingestion worker: claims completed batches and ingests them (see pipeline.py).

A batch is claimed with a lease that a heartbeat renews; if the worker dies, the lease expires and
another worker re-runs the batch from its uploaded files (attempts are counted). Valid rows are
written to a staging folder and moved to the dataset's folder in the same step that records the
batch as successful, so readers never see part of a batch.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsw_catalog.batches.pipeline import BatchSpec, IngestOutcome, Limits, UploadedFile, ingest
from dsw_catalog.batches.service import upload_path
from dsw_catalog.batches.sources import CsvOptions
from dsw_catalog.models import Batch, BatchFile, Dataset, ProcessedEvent, XdmSchema
from dsw_catalog.settings import CatalogSettings
from dsw_catalog.xdm_schemas.service import composed
from dsw_contracts import BatchCompleted
from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import EventConsumer, EventPublisher
from dsw_kit.lake import Lake
from dsw_kit.work import Claim, LeasedWorker, LeaseLost, WorkQueue, worker_identity

logger = logging.getLogger("dsw.catalog.worker")


def dataset_path(lake: Lake, tenant: Tenant, dataset_id: uuid.UUID, *parts: str) -> str:
    """A path in a dataset's folder of the lake."""
    return lake.path(tenant, str(dataset_id), *parts)


class IngestionWorker:
    """Processes batches of one catalog deployment."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, CatalogSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.lake = Lake(settings.platform.resolved_lake_uri)
        self.limits = Limits(
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_decompression_ratio=settings.max_decompression_ratio,
            max_errors=settings.max_errors_per_batch,
            row_group_rows=settings.row_group_rows,
            block_bytes=settings.read_block_bytes,
        )
        self.queue = WorkQueue(
            runtime.database,
            Batch,
            state_attribute="status",
            claimable=("processing",),
            owner=worker_identity("catalog-ingest"),
            lease_seconds=settings.ingest_lease_seconds,
            max_attempts=settings.ingest_max_attempts,
            on_exhausted=self._give_up,
        )

    def process(self, claim: Claim) -> None:
        """Ingest the claimed batch and record the result."""
        with self.database.system_session() as session:
            batch = self.queue.owned(session, claim)
            dataset = session.get(Dataset, batch.dataset_id)
            assert dataset is not None
            spec = self._spec(session, batch, dataset, claim)
            allow_partial = dataset.allow_partial
            threshold = dataset.error_threshold_percent
            dataset_id = dataset.id
        logger.info("ingesting batch %s (attempt %d)", claim.job_id, claim.attempt)
        outcome = ingest(self.lake, spec, self.limits, cancelled=lambda: self._aborted(claim))
        status = _status(outcome, allow_partial, threshold)
        final = dataset_path(self.lake, claim.tenant, dataset_id, str(claim.job_id))
        try:
            with self.database.system_session() as session:
                batch = self.queue.owned(session, claim)
                if status == "failed":
                    self.lake.delete_dir(spec.staging_path)
                else:
                    self.lake.move(spec.staging_path, final)
                self._record(session, batch, outcome, status, claim.tenant)
        except LeaseLost:
            self.lake.delete_dir(spec.staging_path)
            raise
        self.lake.delete_dir(upload_path(self.lake, claim.tenant, claim.job_id))
        logger.info(
            "batch %s: %s (%d read, %d written, %d rejected)",
            claim.job_id,
            status,
            outcome.rows_read,
            outcome.rows_written,
            outcome.rows_rejected,
        )

    def _spec(self, session: Session, batch: Batch, dataset: Dataset, claim: Claim) -> BatchSpec:
        schema_row = session.get(XdmSchema, uuid.UUID(str(dataset.schema_id)))
        assert schema_row is not None
        files = session.scalars(select(BatchFile).where(BatchFile.batch_id == batch.id))
        tenant = claim.tenant
        options = batch.options or {}
        return BatchSpec(
            files=[
                UploadedFile(f.name, upload_path(self.lake, tenant, batch.id, f.name), f.size)
                for f in files
            ],
            input_format=batch.input_format,  # type: ignore[arg-type]
            compression=batch.compression,
            schema=composed(schema_row, dataset.schema_version),
            unknown_columns=batch.unknown_columns,
            csv_options=CsvOptions(
                column_mapping=dict(options.get("column_mapping", {})),
                formats=dict(options.get("formats", {})),
                max_errors=self.limits.max_errors,
            ),
            staging_path=dataset_path(
                self.lake, tenant, dataset.id, "_staging", f"{batch.id}-{claim.attempt}"
            ),
            errors_path=dataset_path(self.lake, tenant, dataset.id, "_errors", f"{batch.id}.jsonl"),
        )

    def _aborted(self, claim: Claim) -> bool:
        with self.database.system_session() as session:
            status = session.scalar(select(Batch.status).where(Batch.id == claim.job_id))
        return status != "processing"

    def _record(
        self, session: Session, batch: Batch, outcome: IngestOutcome, status: str, tenant: Tenant
    ) -> None:
        batch.status = status
        batch.rows_read = outcome.rows_read
        batch.rows_written = outcome.rows_written if status != "failed" else 0
        batch.rows_rejected = outcome.rows_rejected
        batch.bytes_written = outcome.bytes_written if status != "failed" else 0
        batch.outputs = outcome.outputs if status != "failed" else []
        batch.statistics = outcome.statistics if status != "failed" else {}
        batch.has_error_report = outcome.errors_reported > 0
        batch.dropped_columns = [
            {"name": name, "rows": rows} for name, rows in sorted(outcome.dropped_columns.items())
        ]
        batch.error = outcome.file_error or _threshold_message(outcome, status)
        batch.finished_at = utcnow()
        self.queue.release(batch)
        self._announce(session, batch, tenant)

    def _announce(self, session: Session, batch: Batch, tenant: Tenant) -> None:
        verb = {"success": "succeeded", "partial": "partial", "failed": "failed"}[batch.status]
        self.publisher.publish(
            session,
            tenant,
            f"dsw.catalog.batch.{verb}",
            str(batch.id),
            BatchCompleted(
                dataset_id=str(batch.dataset_id),
                batch_id=str(batch.id),
                status=batch.status,
                rows_read=batch.rows_read,
                rows_written=batch.rows_written,
                rows_rejected=batch.rows_rejected,
            ),
        )

    def _give_up(self, session: Session, job: Batch) -> None:
        job.status = "failed"
        reason = job.last_error or "the workers processing it stopped responding"
        job.error = f"ingestion did not finish after {job.attempts} attempts: {reason}"
        job.finished_at = utcnow()
        self._announce(session, job, Tenant(job.org_id, job.sandbox))


def _status(outcome: IngestOutcome, allow_partial: bool, threshold_percent: float) -> str:
    if outcome.file_error is not None:
        return "failed"
    if outcome.rows_rejected == 0:
        return "success"
    if not allow_partial:
        return "failed"
    rejected_percent = 100.0 * outcome.rows_rejected / max(outcome.rows_read, 1)
    return "partial" if rejected_percent <= threshold_percent else "failed"


def _threshold_message(outcome: IngestOutcome, status: str) -> str | None:
    if status != "failed" or outcome.rows_rejected == 0:
        return None
    percent = 100.0 * outcome.rows_rejected / max(outcome.rows_read, 1)
    return (
        f"{outcome.rows_rejected} of {outcome.rows_read} rows ({percent:.2f}%) were rejected, "
        "more than the dataset allows; see the error report"
    )


def ingestion_worker(runtime: ServiceRuntime) -> BackgroundGroup:
    """The ingestion worker and the consumer of batch commands that wakes it early."""
    ingestion = IngestionWorker(runtime)
    worker: LeasedWorker[Batch] = LeasedWorker(
        ingestion.queue,
        ingestion.process,
        poll_seconds=ingestion.settings.ingest_poll_seconds,
        name="catalog-ingest",
    )
    wakeup = EventConsumer(
        name="catalog.ingest",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=["dsw.catalog.commands"],
        handler=lambda session, event: worker.wake(),
        event_types={"dsw.catalog.batch.requested"},
        bootstrap=runtime.settings.platform.kafka_bootstrap,
        group_id=runtime.settings.platform.kafka_group_prefix + "catalog.ingest",
        partitions_per_topic=runtime.settings.platform.kafka_partitions,
    )
    return BackgroundGroup(worker, wakeup)
