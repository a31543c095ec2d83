"""The embedded stack: a Tansu broker and every service as child processes of one command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dsw._local import (
    SERVICE_PORTS,
    STATE_FILE,
    console_url,
    read_state,
    readiness,
    remove_pointer,
    service_ports,
    write_pointer,
)
from dsw_contracts import ALL_TOPICS
from dsw_kit.broker import TansuBroker
from dsw_kit.events import ensure_topics
from dsw_kit.settings import PlatformSettings

# Ports, state and the pointer: what the ``dsw`` commands read without starting anything.
SERVICES = SERVICE_PORTS


# MLflow's own UI, on the port after the console's. The platform uses mlflow-skinny (full MLflow
# pins an older pyarrow), so the server comes from a tool environment: `make mlflow-tool`.
MLFLOW_UI_PORT = 8107


def mlflow_ui_port() -> int:
    """Port of the MLflow UI ``dsw up`` serves, overridable with ``DSW_MLFLOW_UI_PORT``."""
    return int(os.environ.get("DSW_MLFLOW_UI_PORT", MLFLOW_UI_PORT))


def mlflow_server_command() -> Path | None:
    """The ``mlflow`` command of the tool environment (``.tools/mlflow``), if installed."""
    for root in (Path.cwd(), Path(sys.prefix).parent):
        command = root / ".tools" / "mlflow" / "bin" / "mlflow"
        if command.is_file():
            return command
    return None


@dataclass
class EmbeddedStack:
    """Starts, watches and stops the embedded platform."""

    settings: PlatformSettings
    say: Callable[[str], None]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    broker: TansuBroker | None = None
    # Where data scientists browse runs and models: a server of the configured tracking URI, the
    # UI this stack serves on the embedded store, or None (the tool environment is missing).
    mlflow_ui: str | None = None

    @property
    def home(self) -> Path:
        """The data home."""
        return self.settings.resolved_home

    def urls(self) -> dict[str, str]:
        """Base URL of each service."""
        return {name: f"http://127.0.0.1:{port}" for name, port in service_ports().items()}

    def start(self, timeout_seconds: float = 90.0) -> None:
        """Start the broker, migrate, start the services and wait until all are ready."""
        if read_state(self.home) is not None:
            raise RuntimeError(f"the platform already runs from {self.home} (dsw status)")
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._start_broker(logs)
        env = self._environment()
        self._migrate_all(env, logs)
        for name, port in service_ports().items():
            self.processes[name] = self._spawn(name, ["api", "--port", str(port)], env, logs)
        self._start_mlflow_ui(logs)
        if self.mlflow_ui is not None:
            env.setdefault("DSW_CONSOLE_MLFLOW_URL", self.mlflow_ui)
        console_port = console_url().rpartition(":")[2]
        self.processes["console"] = self._spawn(
            "console", ["api", "--port", console_port], env, logs
        )
        self._write_state()
        self._wait_ready(started + timeout_seconds)

    def _start_broker(self, logs: Path) -> None:
        bootstrap = self.settings.kafka_bootstrap
        host, _, port = bootstrap.rpartition(":")
        if host not in ("127.0.0.1", "localhost") or "," in bootstrap:
            self.say(f"using the external broker at {bootstrap}")
        else:
            self.broker = TansuBroker(int(port), log_path=logs / "tansu.log").start()
            self.say(f"broker (Tansu) on {bootstrap}")
        partitions = self.settings.kafka_partitions
        ensure_topics(bootstrap, dict.fromkeys(ALL_TOPICS, partitions))

    def _start_mlflow_ui(self, logs: Path) -> None:
        """Serve MLflow's UI on the embedded tracking store (a configured server has its own)."""
        tracking = self.settings.resolved_mlflow_tracking_uri
        if tracking.startswith(("http://", "https://")):
            self.mlflow_ui = tracking.rstrip("/")
            return
        command = mlflow_server_command()
        if command is None or not tracking.startswith("sqlite:///"):
            return
        store = Path(tracking.removeprefix("sqlite:///"))
        store.parent.mkdir(parents=True, exist_ok=True)
        port = mlflow_ui_port()
        log = open(logs / "mlflow-ui.log", "ab")  # noqa: SIM115 - owned by the child process
        self.processes["mlflow-ui"] = subprocess.Popen(
            [
                str(command),
                "server",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--backend-store-uri={tracking}",
                # Where the platform's runs keep their artifacts (beside the SQLite store).
                f"--default-artifact-root={(store.parent / 'mlartifacts').as_uri()}",
                "--workers=1",
            ],
            env={**os.environ, "MLFLOW_HOME": str(store.parent)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.mlflow_ui = f"http://127.0.0.1:{port}"

    def _environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DSW_HOME": str(self.home),
            "DSW_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
        }
        # Services call each other (training -> catalog...): on ports moved with
        # DSW_<SERVICE>_PORT they must be told where the others are, unless set explicitly.
        for caller in [*SERVICES, "console"]:
            for callee, url in self.urls().items():
                env.setdefault(f"DSW_{caller.upper()}_{callee.upper()}_URL", url)
        return env

    def _command(self, name: str) -> list[str]:
        return [str(Path(sys.executable).parent / f"dsw-{name}")]

    def _migrate_all(self, env: dict[str, str], logs: Path) -> None:
        # Each service has its own database, so their migrations run side by side.
        running = {name: self._spawn(name, ["migrate"], env, logs) for name in SERVICES}
        failed = [name for name, process in running.items() if process.wait() != 0]
        if failed:
            raise RuntimeError(f"migrations failed for {', '.join(failed)}; see {logs}")

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str], logs: Path
    ) -> subprocess.Popen[bytes]:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        return subprocess.Popen(
            [*self._command(name), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "broker": self.settings.kafka_bootstrap,
            "services": self.urls(),
            "console": console_url(),
            "mlflow_ui": self.mlflow_ui,
            "children": {name: process.pid for name, process in self.processes.items()},
        }
        (self.home / STATE_FILE).write_text(json.dumps(state, indent=2))
        # From any folder, `dsw` and `dsw.Client()` find this platform through the pointer.
        write_pointer(self.home, os.getpid())

    def _wait_ready(self, deadline: float) -> None:
        # Not the MLflow UI: its first start creates its schema (minutes on a busy machine) and
        # the platform works without it; it answers once it is up.
        pending = {**self.urls(), "console": console_url()}
        while pending:
            for name, url in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}; see {self.home / 'logs'}"
                    )
                if readiness(url)[0]:
                    self.say(f"{name:<9} ready at {url}")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready in time: {', '.join(sorted(pending))}")
            time.sleep(0.2)

    def watch(self) -> str | None:
        """Block until a child dies or a signal arrives; the name of a child that died."""
        stop = {"requested": False}

        def request_stop(signum: int, frame: object) -> None:
            stop["requested"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop["requested"]:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            time.sleep(0.5)
        return None

    def stop(self) -> None:
        """Stop every service, then the broker."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self.broker is not None:
            self.broker.stop()
        state = self.home / STATE_FILE
        if state.exists():
            state.unlink()
        remove_pointer(self.home)
