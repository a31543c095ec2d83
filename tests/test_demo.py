"""`dsw up --demo` (what `make run` does) walks through the platform, and `dsw demo` again is
idempotent: real broker, service processes, workers and MLflow; SQLite, or PostgreSQL when
DSW_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dsw.demo import demo_records
from dsw_kit.broker import free_port
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
SERVICES = ["catalog", "recipes", "training", "scoring", "serving"]


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh data home, free ports, and fresh databases per service."""
    env = {**os.environ, "DSW_HOME": str(tmp_path / "home")}
    env["DSW_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    env["COLUMNS"] = "200"
    admin = postgres_admin_url()
    made: list[str] = []
    for service in SERVICES:
        env[f"DSW_{service.upper()}_PORT"] = str(free_port())
        env.pop(f"DSW_{service.upper()}_DATABASE_URL", None)
        if admin is not None:
            made.append(create_postgres_database(admin, prefix=f"dsw_demo_{service}"))
            env[f"DSW_{service.upper()}_DATABASE_URL"] = made[-1]
    yield env
    for url in made:
        drop_postgres_database(url)


def _wait_for(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text()
        if text in content:
            return content
        assert process.poll() is None, content
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not seen within {timeout}s:\n{log.read_text()}")


# Three real training runs in child processes: minutes on a busy two-core machine.
@pytest.mark.timeout(600)
def test_make_run_walkthrough_then_again(environment: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "up.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(BIN / "dsw"), "up", "--demo", "--timeout", "300"],
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        first = _wait_for(process, log, "Demo done.", timeout=480)
        assert "the demo failed" not in first, first
        assert "5175 rows" in first
        assert first.count("queued with") == 3
        assert "best by mape" in first
        # In a log (not a terminal) tables are whole: no run id or metric cut to `0c8…`.
        assert "…" not in first
        assert "published retail-forecast" in first
        assert "rows scored into retail-sales-scored" in first
        url = re.search(r"service URL: (\S+)", first)
        assert url is not None, first
        assert "curl -s -H" in first

        again = subprocess.run(
            [str(BIN / "dsw"), "demo"], env=environment, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("already succeeded") == 3
        assert "already serves run" in again.stdout
        assert "already holds this model's scores" in again.stdout

        token = subprocess.run(
            [str(BIN / "dsw"), "token"], env=environment, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        record = {k: v for k, v in demo_records(1)[0].items() if k != "weeklySales"}
        answer = httpx.post(
            url.group(1), json={"records": [record]}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0] > 0
        _secrets_stay_out_of_the_logs(environment, token, record)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, log.read_text()


def _secrets_stay_out_of_the_logs(
    env: dict[str, str], token: str, record: dict[str, object]
) -> None:
    """Use a token, an API key and a wrong key against the live services, then read every log."""
    serving = f"http://127.0.0.1:{env['DSW_SERVING_PORT']}/serving/v1/services/retail-forecast"
    bearer = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{serving}/keys", json={"name": "log-check"}, headers=bearer)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    for headers in ({"x-api-key": key}, {"x-api-key": key + "x"}, {"Authorization": "Bearer x"}):
        httpx.post(f"{serving}/predict", json={"records": [record]}, headers=headers)
    home = Path(env["DSW_HOME"])
    secrets = [token, token.rsplit(".", 1)[-1], key, *_secret_files(home)]
    logs = sorted((home / "logs").glob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret is in {log.name}"


def _secret_files(home: Path) -> list[str]:
    files = [path for path in (home / "secrets").glob("*") if path.is_file()]
    assert files, "the data home holds its signing secret"
    return [path.read_text().strip() for path in files]
