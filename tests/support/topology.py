"""A deployment topology (docker-compose.yml, or the rendered Helm chart) run as local processes.

Each container of compose, and each Job and Deployment of the chart, becomes one local process with
the same command and the same environment, except for what only a cluster or an engine provides:

- service hostnames and ports (``kafka:9092``, ``dsw-catalog:8101``...) are mapped to 127.0.0.1
  and a free port of this machine (an API listens on its mapped port);
- each service's database URL points to a fresh database of its own on the test server (the
  deployment's role and password do not exist there);
- each process gets a data home of its own (``DSW_HOME``: a pod's emptyDir, a container's tmpfs),
  so nothing is shared through local files;
- the image's entrypoint ``dsw-service`` is the service's command in this virtual environment.

The components the deployment expects outside are real and local: PostgreSQL, the Tansu broker, an
S3-compatible server (moto's) for the lake and MLflow's artifacts, and an MLflow tracking server on
PostgreSQL (``make mlflow-tool``).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.testing.plugin import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOOLS = ROOT / ".tools"
SERVICES = {"catalog": 8101, "recipes": 8102, "training": 8103, "scoring": 8104, "serving": 8105}
CONSOLE_PORT = 8106
# What the image sets (deploy/docker/Dockerfile) besides DSW_HOME, which each process gets its own.
IMAGE_ENV = {"DSW_ENVIRONMENT": "production", "PYTHONUNBUFFERED": "1"}
S3_KEY, S3_SECRET, BUCKET = "topology-key", "topology-secret-key", "dsw"


@dataclass
class Process:
    """One container (compose) or workload (chart) of a deployment."""

    name: str
    service: str  # catalog ... serving, console
    args: list[str]
    env: dict[str, str]
    job: bool = False  # a one-shot migration job

    @property
    def role(self) -> str:
        return self.args[0] if self.args[0] != "worker" else f"worker {self.args[1]}"


def ensure_tools() -> None:
    """Install the MLflow server and the S3 server tool environments (quick once installed)."""
    subprocess.run(
        ["make", "-s", "mlflow-tool", "s3-tool"], cwd=ROOT, check=True, capture_output=True
    )


@dataclass
class Infrastructure:
    """PostgreSQL, the broker, the S3 server and MLflow, started on this machine."""

    admin_url: str
    work: Path
    broker: TansuBroker | None = None
    s3_port: int = 0
    mlflow_port: int = 0
    databases: list[str] = field(default_factory=list)
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    def start(self) -> Infrastructure:
        self.work.mkdir(parents=True, exist_ok=True)
        self.broker = TansuBroker(log_path=self.work / "tansu.log").start()
        self.s3_port = free_port()
        self._spawn("s3", [str(TOOLS / "s3" / "bin" / "moto_server"), "-p", str(self.s3_port)], {})
        s3 = f"http://127.0.0.1:{self.s3_port}"
        wait_http(f"{s3}/moto-api/", "the S3 server", self.children[-1][1])
        httpx.put(f"{s3}/{BUCKET}", timeout=10).raise_for_status()
        mlflow_db = self.database("mlflow").replace("postgresql+psycopg://", "postgresql://", 1)
        self.mlflow_port = free_port()
        self._spawn(
            "mlflow",
            [
                str(TOOLS / "mlflow" / "bin" / "mlflow"),
                "server",
                "--host=127.0.0.1",
                f"--port={self.mlflow_port}",
                f"--backend-store-uri={mlflow_db}",
                "--serve-artifacts",
                f"--artifacts-destination=s3://{BUCKET}/mlflow",
                "--workers=1",
            ],
            {
                "AWS_ACCESS_KEY_ID": S3_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "MLFLOW_S3_ENDPOINT_URL": s3,
                "AWS_DEFAULT_REGION": "us-east-1",
            },
        )
        health = f"http://127.0.0.1:{self.mlflow_port}/health"
        # MLflow creates its schema on first start (dozens of migrations): slow on a busy machine.
        wait_http(health, "MLflow", self.children[-1][1], timeout=600)
        return self

    def database(self, name: str) -> str:
        url = create_postgres_database(self.admin_url, prefix=f"dsw_topo_{name}")
        self.databases.append(url)
        return url

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            argv, env={**base_env(), **env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.children.append((name, process))

    def stop(self) -> None:
        for _, process in reversed(self.children):
            stop_process(process)
        if self.broker is not None:
            self.broker.stop()
        for url in self.databases:
            drop_postgres_database(url)


def base_env() -> dict[str, str]:
    """The environment every local process starts from (nothing of the test runner's DSW_*)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {key: os.environ[key] for key in keep if key in os.environ}


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def wait_http(url: str, what: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers (fails at once if ``process`` exits)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited ({process.returncode}); see its log")
        try:
            if httpx.get(url, timeout=3).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not answer {url} within {timeout}s")
        time.sleep(0.2)


# ---- reading the deployments ----

_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``; ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise AssertionError(f"compose needs {name}: {rest}")
        return rest or ""

    return _VARIABLE.sub(replace, value).replace("$$", "$")


def compose_processes(path: Path, variables: Mapping[str, str]) -> list[Process]:
    """Every container of the compose file that runs a platform image."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    processes = []
    for name, spec in loaded["services"].items():
        image = interpolate(str(spec.get("image", "")), variables)
        if not image.startswith("dsw-") or image.startswith("dsw-mlflow"):
            continue
        service = image.removeprefix("dsw-").split(":")[0]
        env = {
            key: interpolate(str(value), variables) for key, value in spec["environment"].items()
        }
        args = [interpolate(str(arg), variables) for arg in spec["command"]]
        processes.append(Process(name, service, args, env, job=args == ["migrate"]))
    return processes


def compose_addresses() -> dict[str, str]:
    """Host:port of every container a compose process calls by name, unmapped yet."""
    names = {"kafka:9092": "broker", "minio:9000": "s3", "mlflow:5000": "mlflow"}
    names |= {f"{service}:{port}": service for service, port in SERVICES.items()}
    names[f"console:{CONSOLE_PORT}"] = "console"
    return names


def chart_processes(docs: list[dict[str, Any]]) -> list[Process]:
    """Every migration Job and Deployment of a chart, with env from its ConfigMap and Secrets."""
    configmaps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    secrets = {
        d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
        for d in docs
        if d["kind"] == "Secret"
    }
    processes = []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env |= configmaps[source["configMapRef"]["name"]]
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]].get(ref["key"])
            if value is None:
                assert ref.get("optional"), f"{doc['metadata']['name']}: no secret {ref['key']}"
                continue
            env[item["name"]] = value
        image = container["image"].rsplit("/", 1)[-1]
        service = image.removeprefix("dsw-").split(":")[0].split("@")[0]
        processes.append(
            Process(
                doc["metadata"]["name"], service, list(container["args"]), env, doc["kind"] == "Job"
            )
        )
    return processes


# ---- running them ----


@dataclass
class LocalDeployment:
    """The processes of a topology on this machine, wired to the infrastructure."""

    processes: list[Process]
    addresses: dict[str, str]  # deployment host:port -> broker | s3 | mlflow | <service> | console
    infrastructure: Infrastructure
    work: Path
    ports: dict[str, int] = field(default_factory=dict)  # service or console -> local port
    running: dict[str, tuple[Process, subprocess.Popen[bytes]]] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = {name: free_port() for name in [*SERVICES, "console"]}
        infra = self.infrastructure
        local = {
            "broker": infra.bootstrap,
            "s3": f"127.0.0.1:{infra.s3_port}",
            "mlflow": f"127.0.0.1:{infra.mlflow_port}",
        } | {name: f"127.0.0.1:{port}" for name, port in self.ports.items()}
        self.mapping = {address: local[target] for address, target in self.addresses.items()}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def localise(self, process: Process) -> tuple[list[str], dict[str, str]]:
        """The process's command and environment on this machine (see the module's docstring)."""
        env = {key: self._map(value) for key, value in process.env.items()}
        args = [self._map(arg) for arg in process.args]
        if process.args[0] == "api":
            listen = SERVICES.get(process.service, CONSOLE_PORT)
            local = str(self.ports[process.service])
            args = [local if arg == str(listen) else arg for arg in args]
            env[f"DSW_{process.service.upper()}_PORT"] = local
            env[f"DSW_{process.service.upper()}_HOST"] = "127.0.0.1"
            args = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in args]
        key = f"DSW_{process.service.upper()}_DATABASE_URL"
        if key in env:
            if process.service not in self.database_urls:
                self.database_urls[process.service] = self.infrastructure.database(process.service)
            env[key] = self.database_urls[process.service]
        home = self.work / "homes" / process.name
        home.mkdir(parents=True, exist_ok=True)
        env = base_env() | IMAGE_ENV | env | {"DSW_HOME": str(home)}
        return args, env

    def _map(self, value: str) -> str:
        for address, local in self.mapping.items():
            value = value.replace(address, local)
        return value

    def start(self, process: Process) -> subprocess.Popen[bytes]:
        args, env = self.localise(process)
        log = open(self.work / f"{process.name}.log", "ab")  # noqa: SIM115 - closed at exit
        command = BIN / f"dsw-{process.service}"
        handle = subprocess.Popen([str(command), *args], env=env, stdout=log, stderr=log)
        self.running[process.name] = (process, handle)
        return handle

    def run_jobs(self, timeout: float = 300.0) -> dict[str, int]:
        """Run every migration job to completion, side by side (compose starts its one-shots
        together; each has its own database); their exit codes."""
        started = {p.name: self.start(p) for p in self.processes if p.job}
        codes = {name: handle.wait(timeout) for name, handle in started.items()}
        for name in started:
            self.running.pop(name)
        return codes

    def start_long_running(self, timeout: float = 600.0) -> None:
        """The APIs first, then (once they answer) the background roles and the console.

        Compose starts the console once the APIs are healthy; the workers would start with the
        APIs, but twenty Python processes importing at once on a small CI machine only slow each
        other down, and nothing of the workers' wiring depends on starting them together.
        """
        for process in self.processes:
            if process.role == "api" and process.service in SERVICES:
                self.start(process)
        self.wait_ready(SERVICES, timeout)
        for process in self.processes:
            if not process.job and process.name not in self.running:
                self.start(process)
        self.wait_ready(["console"], timeout)

    def check_alive(self) -> None:
        for name, (_, handle) in self.running.items():
            if handle.poll() is not None:
                raise AssertionError(f"{name} exited ({handle.returncode}):\n{self.log(name)}")

    def log(self, name: str, tail: int = 4000) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")[-tail:]

    def wait_ready(self, names: Iterable[str], timeout: float) -> None:
        """Wait until the APIs or console ``names`` answer ``/readyz``."""
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending:
            self.check_alive()
            for name in sorted(pending):
                try:
                    if httpx.get(f"{self.url(name)}/readyz", timeout=3).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"not ready within {timeout}s: {sorted(pending)}")
            time.sleep(0.3)

    def stop(self) -> dict[str, int | None]:
        return {name: stop_process(handle) for name, (_, handle) in self.running.items()}


def by_role(processes: list[Process]) -> Iterator[tuple[str, str]]:
    for process in processes:
        yield process.service, process.role
