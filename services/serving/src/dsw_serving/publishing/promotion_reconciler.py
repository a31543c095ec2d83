"""Level-triggered automatic promotion: runs whose ``run.succeeded`` event was lost are judged too.

The promotion consumer reacts to training's events, but an event can be lost: a broker that keeps
messages in memory (the embedded Tansu) restarts before serving consumed it, a consumer group is
reset past it. Every ``promotion_reconcile_seconds`` this reconciler asks training for the
succeeded runs of each auto-promoting service's model that finished after the service was
created, and judges those the service has neither a revision of nor a decision about, exactly as
the consumer would (:func:`judge_run`, which also makes the two of them judge a run only once).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from dsw_contracts import TrainingRunChanged
from dsw_kit.app import BackgroundGroup, ServiceRuntime
from dsw_kit.calls import raise_for_problem
from dsw_kit.db import Tenant
from dsw_kit.errors import ProblemError
from dsw_serving.models import Service
from dsw_serving.publishing.promotion import (
    auto_promotes,
    judge_run,
    judged,
    promotion_consumer,
)
from dsw_serving.publishing.resolve import read_metadata
from dsw_serving.settings import ServingSettings
from dsw_serving.upstream import SERVICE_SCOPES, upstreams_of

logger = logging.getLogger("dsw.serving.promotion")

_PAGE = 100


@dataclass(frozen=True)
class Follower:
    """A service that auto-promotes new runs of a training model."""

    id: uuid.UUID
    tenant: Tenant
    model_id: str
    since: datetime


class PromotionReconciler:
    """Judges the succeeded runs of followed models that serving has not judged yet."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        assert isinstance(runtime.settings, ServingSettings)
        self.runtime = runtime
        self.interval = runtime.settings.promotion_reconcile_seconds
        self.judged = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="promotion-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception:
                logger.exception("promotion reconciliation failed; retrying")

    def reconcile_once(self) -> int:
        """One pass over every following service; the number of runs judged now."""
        judged = 0
        for follower in self._followers():
            try:
                runs = self._succeeded_runs(follower)
            except (httpx.HTTPError, ProblemError) as error:
                logger.warning("cannot list the runs of model %s: %s", follower.model_id, error)
                continue
            for run in runs:
                try:
                    if not self._judge(follower, run):
                        continue
                except ProblemError as error:  # e.g. its model cannot be read from MLflow
                    logger.warning("cannot judge run %s: %s", run["id"], error)
                    continue
                judged += 1
                logger.info(
                    "judged run %s for service %s (its event never arrived)",
                    run["id"],
                    follower.id,
                )
        self.judged += judged
        return judged

    def _followers(self) -> list[Follower]:
        with self.runtime.database.system_session() as session:
            query = select(Service).where(Service.training_model_id.is_not(None))
            services = session.scalars(query)
            return [
                Follower(
                    service.id,
                    Tenant(service.org_id, service.sandbox),
                    str(service.training_model_id),
                    service.created,
                )
                for service in services
                if auto_promotes(service)
            ]

    def _succeeded_runs(self, follower: Follower) -> list[dict[str, Any]]:
        """The model's runs that succeeded after the service was created, oldest first."""
        training = upstreams_of(self.runtime).training
        runs: list[dict[str, Any]] = []
        params: dict[str, Any] = {"state": "succeeded", "limit": _PAGE, "orderby": "-created"}
        path = f"/training/v1/models/{follower.model_id}/runs"
        with training.for_service(follower.tenant, SERVICE_SCOPES) as client:
            while True:
                response = client.get(path, params=params)
                raise_for_problem(response)
                page = response.json()
                fresh = [run for run in page["items"] if _finished_after(run, follower.since)]
                runs.extend(fresh)
                # Newest first: a page with an older run means the rest are older still.
                if not page.get("next") or len(fresh) < len(page["items"]):
                    return runs[::-1]
                params["cursor"] = page["next"]

    def _judge(self, follower: Follower, run: dict[str, Any]) -> bool:
        change = _change_of(run)
        with self.runtime.database.session(follower.tenant) as session:
            service = session.get(Service, follower.id)
            if service is None or judged(session, service, change.run_id):
                return False
        if not change.model_uri:
            return False
        # Read from MLflow before the transaction: on SQLite it holds the database's write lock.
        tracking_uri = self.runtime.settings.platform.resolved_mlflow_tracking_uri
        metadata = read_metadata(change.model_uri, tracking_uri, "/mlflow/model_uri")
        with self.runtime.database.session(follower.tenant) as session:
            service = session.get(Service, follower.id)
            if service is None or service.training_model_id != follower.model_id:
                return False
            return judge_run(self.runtime, session, service, change, metadata)


def _finished_after(run: dict[str, Any], since: datetime) -> bool:
    finished = run.get("finished_at")
    return finished is not None and datetime.fromisoformat(finished) >= since


def _change_of(run: dict[str, Any]) -> TrainingRunChanged:
    """What the run's ``run.succeeded`` event would have carried."""
    mlflow = run.get("mlflow") or {}
    return TrainingRunChanged(
        run_id=str(run["id"]),
        model_id=str(run["model_id"]),
        state="succeeded",
        attempt=int(run.get("attempts") or 0),
        metrics={str(k): float(v) for k, v in (run.get("metrics") or {}).items()},
        mlflow_run_id=mlflow.get("run_id"),
        registered_model=mlflow.get("registered_model"),
        model_version=mlflow.get("model_version"),
        model_uri=mlflow.get("model_uri"),
        sweep_id=run.get("sweep_id"),
        schedule_id=run.get("schedule_id"),
    )


def promotion_worker(runtime: ServiceRuntime) -> BackgroundGroup:
    """The promotion consumer and its reconciler (``dsw-serving worker training-events``)."""
    return BackgroundGroup(promotion_consumer(runtime), PromotionReconciler(runtime))
