"""The smoke worker: claims pending versions and runs each in a limited child process.

A version is claimed with a lease (dsw_kit.work); a worker that dies lets the lease expire and
another worker runs the version again, up to ``smoke_max_attempts``. The package comes from the
lake, so the worker may run on another machine than the API that registered it. The
``dsw.recipes.version.requested`` command only wakes workers early.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from dsw_contracts import RecipeVersionValidated
from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.db import Tenant, utcnow
from dsw_kit.events import EventConsumer, EventPublisher
from dsw_kit.lake import Lake
from dsw_kit.sandbox import resolve_sandbox
from dsw_kit.work import Claim, LeasedWorker, WorkQueue, worker_identity
from dsw_recipes.models import PLATFORM_ORG, ProcessedEvent, Recipe, RecipeVersion
from dsw_recipes.packages import storage
from dsw_recipes.packages.archive import Limits, unpack
from dsw_recipes.settings import RecipesSettings
from dsw_recipes.smoke.sandbox import SmokeLimits, SmokeOutcome, run_child

logger = logging.getLogger("dsw.recipes.smoke")


class SmokeWorker:
    """Smoke-runs recipe versions of one recipes deployment."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, RecipesSettings)
        self.settings = settings
        self.database = runtime.database
        self.publisher: EventPublisher = runtime.publisher
        self.lake = Lake(settings.platform.resolved_lake_uri)
        self.limits = SmokeLimits(
            timeout_seconds=settings.smoke_timeout_seconds,
            memory_bytes=settings.smoke_memory_bytes,
            output_lines=settings.smoke_output_lines,
        )
        self.sandbox = resolve_sandbox(
            settings.sandbox,
            component="recipes.smoke",
            hidden=[settings.platform.resolved_home],
            max_processes=settings.sandbox_max_processes,
        )
        self.queue = WorkQueue(
            runtime.database,
            RecipeVersion,
            state_attribute="validation_status",
            claimable=("pending",),
            owner=worker_identity("recipes-smoke"),
            lease_seconds=settings.smoke_lease_seconds,
            max_attempts=settings.smoke_max_attempts,
            on_exhausted=self._give_up,
        )

    def process(self, claim: Claim) -> None:
        """Smoke-run the claimed version and record the verdict."""
        with self.database.system_session() as session:
            version = self.queue.owned(session, claim)
            recipe = session.get(Recipe, version.recipe_id)
            assert recipe is not None
            request: dict[str, Any] = {"params": dict(version.smoke.get("params") or {})}
            if recipe.builtin:
                request.update(kind="builtin", name=recipe.name)
            else:
                request.update(kind="package", sample=version.smoke.get("sample"))
            package_path = version.package_path
        logger.info("smoke run of version %s (attempt %d)", claim.job_id, claim.attempt)
        workdir = Path(tempfile.mkdtemp(prefix="dsw-recipe-smoke-"))
        try:
            if request["kind"] == "package":
                assert package_path is not None
                package = workdir / "package"
                package.mkdir()
                limits = Limits(
                    max_entries=self.settings.max_package_entries,
                    max_unpacked_bytes=self.settings.max_unpacked_bytes,
                )
                unpack(storage.fetch(self.lake, package_path), package, limits)
                request["package_dir"] = str(package)
            outcome = run_child(request, workdir, self.limits, sandbox=self.sandbox)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        with self.database.system_session() as session:
            version = self.queue.owned(session, claim)
            self._record(session, version, outcome)
        logger.info(
            "version %s: %s%s",
            claim.job_id,
            "valid" if outcome.ok else "invalid",
            "" if outcome.ok else f" ({outcome.error})",
        )

    def _record(self, session: Session, version: RecipeVersion, outcome: SmokeOutcome) -> None:
        version.validation_status = "valid" if outcome.ok else "invalid"
        version.validation_mode = outcome.mode
        version.validation_error = outcome.error
        version.validation_output = outcome.output
        version.validation_metrics = outcome.metrics
        version.validated_at = utcnow()
        params = outcome.describe.get("params")
        if isinstance(params, dict) and not version.params_schema:
            version.params_schema = params
        self.queue.release(version)
        self._announce(session, version)

    def _announce(self, session: Session, version: RecipeVersion) -> None:
        if version.org_id == PLATFORM_ORG:
            return  # built-ins belong to no tenant: their verdict is on the version only
        self.publisher.publish(
            session,
            Tenant(version.org_id, version.sandbox),
            "dsw.recipes.version.validated",
            str(version.id),
            RecipeVersionValidated(
                recipe_id=str(version.recipe_id),
                version_id=str(version.id),
                status=version.validation_status,
                mode=version.validation_mode or "contract",
                error=version.validation_error,
            ),
        )

    def _give_up(self, session: Session, job: RecipeVersion) -> None:
        job.validation_status = "invalid"
        reason = job.last_error or "the workers running it stopped responding"
        job.validation_error = (
            f"the smoke run did not finish after {job.attempts} attempts: {reason}"
        )
        job.validated_at = utcnow()
        self._announce(session, job)


def smoke_worker(runtime: ServiceRuntime) -> BackgroundGroup:
    """The smoke worker and the consumer of version commands that wakes it early."""
    smoke = SmokeWorker(runtime)
    worker: LeasedWorker[RecipeVersion] = LeasedWorker(
        smoke.queue,
        smoke.process,
        poll_seconds=smoke.settings.smoke_poll_seconds,
        name="recipes-smoke",
    )
    platform = runtime.settings.platform
    wakeup = EventConsumer(
        name="recipes.smoke",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=["dsw.recipes.commands"],
        handler=lambda session, event: worker.wake(),
        event_types={"dsw.recipes.version.requested"},
        bootstrap=platform.kafka_bootstrap,
        group_id=platform.kafka_group_prefix + "recipes.smoke",
        partitions_per_topic=platform.kafka_partitions,
    )
    return BackgroundGroup(worker, wakeup)
