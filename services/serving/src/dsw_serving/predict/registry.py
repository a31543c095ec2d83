"""What each serving process knows of the services it answers for, kept fresh from the database.

A poller thread reads every service's ``version`` every ``state_poll_seconds`` (and at once when
this process changed one, after the commit); for a changed service it loads the models of the
revisions its traffic names *before* swapping the service's entry in one assignment, so requests
in flight keep the old entry and new ones get the new: a revision change fails no request.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dsw_kit.app import ServiceRuntime
from dsw_kit.db import Database, Tenant
from dsw_serving.models import ApiKey, Revision, Service
from dsw_serving.predict.batching import BatchingPolicy
from dsw_serving.predict.inputs import FieldSpec
from dsw_serving.predict.models import ModelCache, Predictor
from dsw_serving.settings import ServingSettings

logger = logging.getLogger("dsw.serving.registry")

PREDICTIONS = Counter(
    "dsw_serving_requests_total",
    "Prediction requests by service, revision and outcome",
    ["org", "sandbox", "service", "revision", "outcome"],
)
ERRORS = Counter(
    "dsw_serving_errors_total",
    "Prediction requests refused or failed, by service and status",
    ["org", "sandbox", "service", "status"],
)
LATENCY = Histogram(
    "dsw_serving_predict_seconds",
    "Prediction latency (parse, validate, predict) by service and revision",
    ["org", "sandbox", "service", "revision"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
BATCH_ROWS = Histogram(
    "dsw_serving_batch_rows",
    "Rows per prediction request by service and revision",
    ["org", "sandbox", "service", "revision"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)


@dataclass
class RevisionRef:
    """A revision as the hot path needs it: its model URI and inputs, and its metric children."""

    number: int
    model_uri: str
    task_type: str
    fields: tuple[FieldSpec, ...]
    labels: tuple[str, str, str, str]
    ok: Any = None
    latency: Any = None
    rows: Any = None

    def __post_init__(self) -> None:
        # Labelled children looked up once: the lookup costs more than the observation.
        self.ok = PREDICTIONS.labels(*self.labels, "ok")
        self.latency = LATENCY.labels(*self.labels)
        self.rows = BATCH_ROWS.labels(*self.labels)


@dataclass
class LiveService:
    """One service's routing, as of one version of its row."""

    id: uuid.UUID
    tenant: Tenant
    name: str
    version: int
    mode: str
    primary: RevisionRef
    secondary: RevisionRef | None
    percent: int
    key_hashes: frozenset[str]
    batching: BatchingPolicy | None = None
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def route(self) -> tuple[RevisionRef, RevisionRef | None]:
        """(the revision that answers, a shadow revision that gets a copy or None).

        A canary gets exactly ``percent`` of every 100 requests, spread evenly (request n goes
        to the canary when floor((n+1)p/100) > floor(np/100)), not a random share.
        """
        if self.mode == "canary" and self.secondary is not None:
            n = next(self._counter)
            if ((n + 1) * self.percent) // 100 > (n * self.percent) // 100:
                return self.secondary, None
            return self.primary, None
        if self.mode == "shadow":
            return self.primary, self.secondary
        return self.primary, None

    def revisions(self) -> list[RevisionRef]:
        return [self.primary] + ([self.secondary] if self.secondary is not None else [])


@dataclass(frozen=True)
class KeyOwner:
    """The service an API key opens."""

    service_id: uuid.UUID
    tenant: Tenant
    name: str


class Registry:
    """Services, API keys and loaded models of this process."""

    def __init__(self, database: Database, settings: ServingSettings) -> None:
        self.database = database
        self.settings = settings
        self.models = ModelCache(
            settings.model_cache_bytes, settings.platform.resolved_mlflow_tracking_uri
        )
        self.services: dict[tuple[str, str, str], LiveService] = {}
        self.keys: dict[str, KeyOwner] = {}
        self._by_id: dict[uuid.UUID, LiveService] = {}
        self._versions: dict[uuid.UUID, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.load_failures = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="serving-registry", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Poll now rather than at the next tick."""
        self._wake.set()

    def wake_after_commit(self, session: Session) -> None:
        """Poll once ``session``'s transaction is committed (a change is visible only then)."""
        event.listen(session, "after_commit", lambda _: self.wake(), once=True)

    def forget_key(self, key_hash: str) -> None:
        """Stop accepting a key in this process at once (others stop at their next poll)."""
        self.keys.pop(key_hash, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the database may be away; the old state keeps serving
                logger.warning("refreshing services failed", exc_info=True)
            self._wake.wait(self.settings.state_poll_seconds)
            self._wake.clear()

    # -- refresh -------------------------------------------------------------------------------

    def poll(self) -> None:
        """Reload every service whose version changed; drop deleted ones."""
        with self._reload_lock:
            with self.database.system_session() as session:
                rows = session.execute(select(Service.id, Service.version)).all()
            seen = {row.id for row in rows}
            for service_id in [sid for sid in self._versions if sid not in seen]:
                self._drop(service_id)
            for row in rows:
                if self._versions.get(row.id) != row.version:
                    self._reload(row.id)

    def reload_service(self, service_id: uuid.UUID) -> LiveService | None:
        """Load one service now (a request found it missing: it may be brand new)."""
        with self._reload_lock:
            return self._reload(service_id)

    def find_key(self, key_hash: str) -> KeyOwner | None:
        """The owner of an active key not known yet (created by another process just now)."""
        with self.database.system_session() as session:
            key = session.scalar(
                select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
            )
            service_id = key.service_id if key is not None else None
        if service_id is None:
            return None
        self.reload_service(service_id)
        return self.keys.get(key_hash)

    def find_service(self, tenant: Tenant, name: str) -> LiveService | None:
        """A service not known yet (published just now, maybe by another process)."""
        with self.database.session(tenant) as session:
            service_id = session.scalar(select(Service.id).where(Service.name == name))
        if service_id is None:
            return None
        return self.reload_service(service_id)

    def _reload(self, service_id: uuid.UUID) -> LiveService | None:
        with self.database.system_session() as session:
            service = session.get(Service, service_id)
            if service is None:
                self._drop(service_id)
                return None
            wanted = [service.primary_revision]
            if service.mode != "single" and service.secondary_revision is not None:
                wanted.append(service.secondary_revision)
            revisions = {
                revision.number: revision
                for revision in session.scalars(
                    select(Revision).where(
                        Revision.service_id == service.id, Revision.number.in_(wanted)
                    )
                )
            }
            hashes = frozenset(
                session.scalars(
                    select(ApiKey.key_hash).where(
                        ApiKey.service_id == service.id, ApiKey.revoked_at.is_(None)
                    )
                )
            )
            tenant = Tenant(service.org_id, service.sandbox)
            refs = [self._ref(tenant, service.name, revisions[number]) for number in wanted]
            live = LiveService(
                id=service.id,
                tenant=tenant,
                name=service.name,
                version=service.version,
                mode=service.mode,
                primary=refs[0],
                secondary=refs[1] if len(refs) > 1 else None,
                percent=service.canary_percent,
                key_hashes=hashes,
                batching=BatchingPolicy.of(service.batching),
            )
        try:
            for ref in live.revisions():
                # Loaded before the switch, so that no request waits for (or fails on) a load.
                self.models.load(ref.model_uri)
        except Exception:
            self.load_failures += 1
            logger.exception(
                "service %s: a model failed to load; keeping the old routing", live.name
            )
            self._versions[service_id] = live.version
            return self._by_id.get(service_id)
        self._install(live)
        return live

    def _ref(self, tenant: Tenant, name: str, revision: Revision) -> RevisionRef:
        return RevisionRef(
            number=revision.number,
            model_uri=revision.model_uri,
            task_type=revision.task_type,
            fields=tuple(
                FieldSpec(str(item["name"]), str(item["type"]), bool(item.get("required", True)))
                for item in revision.inputs
            ),
            labels=(tenant.org_id, tenant.sandbox, name, str(revision.number)),
        )

    def _install(self, live: LiveService) -> None:
        old = self._by_id.get(live.id)
        self.services[(live.tenant.org_id, live.tenant.sandbox, live.name)] = live
        self._by_id[live.id] = live
        self._versions[live.id] = live.version
        owner = KeyOwner(live.id, live.tenant, live.name)
        for key_hash in live.key_hashes:
            self.keys[key_hash] = owner
        if old is not None:
            for key_hash in old.key_hashes - live.key_hashes:
                self.keys.pop(key_hash, None)

    def _drop(self, service_id: uuid.UUID) -> None:
        old = self._by_id.pop(service_id, None)
        self._versions.pop(service_id, None)
        if old is None:
            return
        self.services.pop((old.tenant.org_id, old.tenant.sandbox, old.name), None)
        for key_hash in old.key_hashes:
            self.keys.pop(key_hash, None)

    def predictor(self, ref: RevisionRef) -> Predictor | None:
        """The loaded model of a revision, if still cached."""
        return self.models.get(ref.model_uri)


_CREATE_LOCK = threading.Lock()


def registry_of(runtime: ServiceRuntime) -> Registry:
    """This process's registry, started on first use (the API's first request, or a route)."""
    registry: Registry | None = getattr(runtime, "registry", None)
    if registry is not None:
        return registry
    with _CREATE_LOCK:
        existing: Registry | None = getattr(runtime, "registry", None)
        if existing is not None:
            return existing
        assert isinstance(runtime.settings, ServingSettings)
        registry = Registry(runtime.database, runtime.settings)
        runtime.registry = registry  # type: ignore[attr-defined]
        registry.start()
        # Stopped with the service's other background components when the app shuts down.
        runtime.background.append(registry)
        return registry
