"""The platform's services as real processes on free ports, sharing one data home and broker.

Each role is ``dsw-<service> api`` or ``dsw-<service> worker NAME``, exactly what an operator
runs; databases are SQLite files in the data home or fresh PostgreSQL databases.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from dsw_kit.broker import free_port
from tests.support.processes import ServiceProcess

SERVICES = ("catalog", "recipes", "training", "scoring", "serving")


@dataclass
class ProcessStack:
    """Service processes started on demand; :meth:`stop` ends every one of them."""

    home: Path
    bootstrap: str
    logs: Path
    databases: dict[str, str]
    settings: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {service: free_port() for service in SERVICES}
        self.group_prefix = f"test-{uuid.uuid4().hex[:8]}."

    def url(self, service: str) -> str:
        """Base URL of a service's API."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self) -> dict[str, str]:
        """What every role is started with (``settings`` last, so a test can override)."""
        env = {
            "DSW_HOME": str(self.home),
            "DSW_KAFKA_BOOTSTRAP": self.bootstrap,
            "DSW_KAFKA_GROUP_PREFIX": self.group_prefix,
            "DSW_LOG_JSON": "false",
        }
        for service, database in self.databases.items():
            env[f"DSW_{service.upper()}_DATABASE_URL"] = database
        for caller in SERVICES:
            for callee in SERVICES:
                env[f"DSW_{caller.upper()}_{callee.upper()}_URL"] = self.url(callee)
        return env | self.settings

    def start(self, name: str, service: str, args: list[str]) -> ServiceProcess:
        """Start one role under ``name`` (its log is ``<logs>/<name>.log``)."""
        process = ServiceProcess(service, args, self.environment(), self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def start_api(self, service: str) -> ServiceProcess:
        """Start a service's API (migrating its database on start)."""
        return self.start(service, service, ["api", "--port", str(self.ports[service])])

    def wait_ready(self, services: list[str], timeout: float = 600.0) -> None:
        """Wait until every service answers ``/readyz`` with 200."""
        pending = set(services)
        deadline = time.monotonic() + timeout
        while pending:
            for service in sorted(pending):
                process = self.processes[service].process
                if process.poll() is not None:
                    raise AssertionError(f"{service} exited:\n{self.processes[service].output()}")
                if _ready(self.url(service)):
                    pending.discard(service)
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"not ready within {timeout}s: {sorted(pending)}")
            time.sleep(0.3)

    def freeze(self, name: str) -> None:
        """Suspend a process (SIGSTOP): it holds its connections but does nothing."""
        self.processes[name].process.send_signal(signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        """Resume a suspended process (SIGCONT)."""
        self.processes[name].process.send_signal(signal.SIGCONT)

    def stop(self) -> dict[str, int | None]:
        """Stop every process (thawed first, so that SIGTERM is handled); their exit codes."""
        for process in self.processes.values():
            if process.process.poll() is None:
                process.process.send_signal(signal.SIGCONT)
        return {name: process.stop() for name, process in self.processes.items()}


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def poll(check: Callable[[], object], what: str, timeout: float = 180.0) -> object:
    """Call ``check`` until it returns something truthy; that value (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)
