"""Leased work: long jobs (ingestion, training, scoring) claimed by workers that may die.

A job's state lives in its service's database. A worker claims a job with an atomic transition that
sets a lease (owner + expiry) and counts the attempt, renews the lease by heartbeat while it works,
and finishes the job in one transaction that checks it still owns it. A worker that dies stops
renewing; once the lease expires any worker may claim the job again, up to ``max_attempts``.
Kafka command events only wake workers up early: nothing depends on their delivery.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from dsw_kit.db import Database, ResourceMixin, Tenant, UTCDateTime, utcnow

__all__ = ["Claim", "LeaseLost", "LeasedWorkMixin", "LeasedWorker", "WorkQueue", "worker_identity"]

logger = logging.getLogger("dsw.work")


def worker_identity(role: str) -> str:
    """A name unique to this worker process, for lease ownership and logs."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeasedWorkMixin(ResourceMixin):
    """A resource that workers claim with a lease (a batch to ingest, a run to execute)."""

    lease_owner: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, default=None, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Why the last attempt failed (an unexpected error), shown when the job gives up.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)


class LeaseLost(RuntimeError):
    """The worker no longer owns the job (its lease expired and another worker claimed it)."""


@dataclass(frozen=True)
class Claim:
    """A job this worker owns until ``expires`` (renewed by heartbeat)."""

    job_id: uuid.UUID
    tenant: Tenant
    attempt: int
    owner: str


J = TypeVar("J", bound=LeasedWorkMixin)


class WorkQueue(Generic[J]):
    """Claims, renews and finishes jobs of one table.

    ``claimable`` are the states a job can be claimed in (when its lease is free or expired);
    ``on_claim`` moves a claimed job to its working state; ``on_exhausted`` fails a job whose
    attempts are used up.
    """

    def __init__(
        self,
        database: Database,
        model: type[J],
        *,
        state_attribute: str,
        claimable: Iterable[str],
        owner: str,
        lease_seconds: float = 30.0,
        max_attempts: int = 3,
        on_claim: Callable[[J], None] | None = None,
        on_exhausted: Callable[[Session, J], None] | None = None,
    ) -> None:
        self.database = database
        self.model = model
        self.state = getattr(model, state_attribute)
        self.claimable = tuple(claimable)
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.on_claim = on_claim
        self.on_exhausted = on_exhausted

    def claim(self) -> Claim | None:
        """Claim the oldest claimable job, if any (exhausted ones are failed on the way)."""
        model = self.model
        while True:
            with self.database.system_session() as session:
                now = utcnow()
                query = (
                    select(model)
                    .where(
                        self.state.in_(self.claimable),
                        or_(model.lease_expires.is_(None), model.lease_expires < now),
                    )
                    .order_by(model.lease_expires.is_not(None), model.created)
                    .limit(1)
                )
                if not self.database.is_sqlite:
                    query = query.with_for_update(skip_locked=True)
                job = session.scalar(query)
                if job is None:
                    return None
                if job.attempts >= self.max_attempts:
                    job.lease_owner, job.lease_expires = None, None
                    if self.on_exhausted is not None:
                        self.on_exhausted(session, job)
                    logger.warning("job %s gave up after %d attempts", _id(job), job.attempts)
                    continue
                job.lease_owner = self.owner
                job.lease_expires = now + self.lease
                job.attempts += 1
                if self.on_claim is not None:
                    self.on_claim(job)
                return Claim(_id(job), _tenant(job), job.attempts, self.owner)

    def renew(self, claim: Claim) -> None:
        """Extend the lease; :class:`LeaseLost` if another worker owns the job now."""
        with self.database.system_session() as session:
            job = self.owned(session, claim)
            job.lease_expires = utcnow() + self.lease

    def owned(self, session: Session, claim: Claim) -> J:
        """The job, still owned by this claim (lock it on PostgreSQL); LeaseLost otherwise."""
        model = self.model
        query = select(model).where(model.id == claim.job_id)
        if not self.database.is_sqlite:
            query = query.with_for_update()
        job = session.scalar(query)
        if (
            job is None
            or job.lease_owner != claim.owner
            or self.state_of(job) not in self.claimable
        ):
            raise LeaseLost(f"job {claim.job_id} is no longer owned by {claim.owner}")
        return job

    def record_error(self, claim: Claim, error: BaseException) -> None:
        """Remember why an attempt failed (best effort; the lease expiry retries the job)."""
        with self.database.system_session() as session:
            job = session.get(self.model, claim.job_id)
            if job is not None and job.lease_owner == claim.owner:
                job.last_error = f"{type(error).__name__}: {error}"[:2000]

    def state_of(self, job: J) -> str:
        """The job's state."""
        return str(getattr(job, self.state.key))

    @staticmethod
    def release(job: LeasedWorkMixin) -> None:
        """Clear the lease of a job that reached a final state."""
        job.lease_owner, job.lease_expires = None, None


def _id(job: LeasedWorkMixin) -> uuid.UUID:
    return job.id


def _tenant(job: LeasedWorkMixin) -> Tenant:
    return Tenant(job.org_id, job.sandbox)


Processor = Callable[[Claim], None]


class LeasedWorker(Generic[J]):
    """Claims jobs from a :class:`WorkQueue` and processes them one at a time in a thread.

    While ``process`` runs, a heartbeat renews the lease every third of its length. ``wake()``
    (called when a command event arrives) skips the wait before the next claim.
    """

    def __init__(
        self,
        queue: WorkQueue[J],
        process: Processor,
        *,
        poll_seconds: float = 2.0,
        name: str = "worker",
    ) -> None:
        self.queue = queue
        self.process = process
        self.poll_seconds = poll_seconds
        self.name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0

    def wake(self) -> None:
        """Look for work now."""
        self._wake.set()

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current job (its lease expires if it does not finish in time)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> bool:
        """Claim and process one job; whether there was one."""
        claim = self.queue.claim()
        if claim is None:
            return False
        heartbeat_stop = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(claim, heartbeat_stop), daemon=True
        )
        heartbeat.start()
        try:
            self.process(claim)
        except LeaseLost:
            logger.warning(
                "%s lost the lease of job %s; another worker has it", self.name, claim.job_id
            )
        except Exception as error:
            # The job stays claimable: its lease expires and it is retried (attempts count).
            logger.exception(
                "%s failed on job %s (attempt %d)", self.name, claim.job_id, claim.attempt
            )
            try:
                self.queue.record_error(claim, error)
            except Exception:
                logger.warning("could not record the error of job %s", claim.job_id)
        finally:
            heartbeat_stop.set()
            heartbeat.join(5)
        self.processed += 1
        return True

    def _heartbeat(self, claim: Claim, stop: threading.Event) -> None:
        interval = self.queue.lease.total_seconds() / 3
        while not stop.wait(interval):
            try:
                self.queue.renew(claim)
            except LeaseLost:
                return
            except Exception:
                logger.warning("heartbeat of job %s failed; retrying", claim.job_id, exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                logger.exception("%s could not claim work; retrying", self.name)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
