"""What the compose stack runs besides the services' code: the image's role-aware health check and
PostgreSQL's init script (run against a real server when DSW_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import http.server
import importlib.util
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.deploy.conftest import ROOT

HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
INIT_SCRIPT = ROOT / "deploy" / "compose" / "postgres" / "init-databases.sh"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dsw_healthcheck", HEALTHCHECK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api_port() -> Iterator[int]:
    """A local HTTP server that answers /healthz like a service API."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_health_check_finds_the_service_process(healthcheck: ModuleType) -> None:
    processes = [
        ["/sbin/docker-init", "--", "dsw-service", "api", "--host", "0.0.0.0"],
        ["/opt/venv/bin/python", "/opt/venv/bin/dsw-healthcheck"],
    ]
    assert healthcheck.service_command(processes) == ["dsw-service", "api", "--host", "0.0.0.0"]
    python = [["/opt/venv/bin/python", "/opt/venv/bin/dsw-training", "worker", "catalog-events"]]
    assert healthcheck.service_command(python) == ["dsw-training", "worker", "catalog-events"]
    assert healthcheck.service_command([processes[1], ["sleep", "1"]]) is None


def test_health_check_port_comes_from_the_command_the_environment_or_the_default(
    healthcheck: ModuleType,
) -> None:
    assert healthcheck.api_port(["dsw-service", "api", "--port", "9000"], "catalog", {}) == 9000
    assert healthcheck.api_port(["dsw-service", "api", "--port=9001"], "catalog", {}) == 9001
    environ = {"DSW_SCORING_PORT": "9002"}
    assert healthcheck.api_port(["dsw-service", "api"], "scoring", environ) == 9002
    assert healthcheck.api_port(["dsw-service", "api"], "serving", {}) == 8105


def test_api_role_is_healthy_only_when_healthz_answers(
    healthcheck: ModuleType, api_port: int
) -> None:
    argv = ["dsw-service", "api", "--host", "0.0.0.0", "--port", str(api_port)]
    assert healthcheck.check(argv, {"DSW_SERVICE": "catalog"}) is None
    argv = ["dsw-service", "api", "--port", str(closed_port())]
    problem = healthcheck.check(argv, {"DSW_SERVICE": "catalog"}, timeout=1.0)
    assert problem is not None
    assert "/healthz" in problem


def test_background_roles_are_healthy_while_they_run(healthcheck: ModuleType) -> None:
    assert healthcheck.check(["dsw-training", "worker", "catalog-events"], {}) is None
    assert healthcheck.check(["dsw-catalog", "relay"], {}) is None
    assert healthcheck.check(None, {}) == "no dsw-<service> process is running"


def test_health_check_reads_process_command_lines(healthcheck: ModuleType, tmp_path: Path) -> None:
    for pid, argv in [(1, b"dsw-service\0api\0"), (7, b"/bin/sh\0"), (8, b"")]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(argv)
    (tmp_path / "self").mkdir()
    assert list(healthcheck.running_commands(tmp_path)) == [["dsw-service", "api"], ["/bin/sh"]]


def test_health_check_script_exits_non_zero_without_a_service(
    healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No service process visible (the host running the tests may run dsw processes itself).
    monkeypatch.setattr(healthcheck, "running_commands", lambda *args: iter([]))
    assert healthcheck.main() == 1
    assert "unhealthy" in capsys.readouterr().err


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_postgres_init_script_makes_isolated_databases_idempotently() -> None:
    admin = os.environ.get("DSW_TEST_POSTGRES_URL")
    if not admin or shutil.which("psql") is None:
        pytest.skip("needs DSW_TEST_POSTGRES_URL and psql")
    parts = urlsplit(admin)
    suffix = uuid.uuid4().hex[:8]
    names = [f"dsw_init_{suffix}_a", f"dsw_init_{suffix}_b"]
    mlflow = f"dsw_init_{suffix}_mlflow"
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.path.lstrip("/") or "postgres",
        "DSW_DATABASES": " ".join(names),
        "DSW_DB_PASSWORD": "service-password",
        "MLFLOW_DATABASE": mlflow,
        "MLFLOW_DB_PASSWORD": "mlflow-password",
    }
    if parts.password:
        env["PGPASSWORD"] = parts.password
    try:
        for _ in range(2):  # a second run changes nothing and does not fail
            result = subprocess.run(
                ["bash", str(INIT_SCRIPT)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
        host, port = env["PGHOST"], env["PGPORT"]
        for name, password in [(names[0], "service-password"), (mlflow, "mlflow-password")]:
            with psycopg.connect(
                host=host, port=port, user=name, password=password, dbname=name
            ) as connection:
                owner = connection.execute(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                assert owner == (name,)
                connection.execute("CREATE TABLE owned_by_the_service (id int)")
        # A service's role cannot even connect to another service's database.
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(
                host=host, port=port, user=names[0], password="service-password", dbname=names[1]
            ).close()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in [*names, mlflow]:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                connection.execute(f'DROP ROLE IF EXISTS "{name}"')
