"""`dsw up` brings the whole platform to ready, stops cleanly, and finds its state again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dsw_kit.broker import free_port

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["catalog", "recipes", "training", "scoring", "serving"]


def _environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "DSW_HOME": str(home), "DSW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    env["DSW_MLFLOW_UI_PORT"] = str(free_port())
    env["DSW_CONSOLE_PORT"] = str(free_port())
    for service in SERVICES:
        env[f"DSW_{service.upper()}_PORT"] = str(free_port())
        env.pop(f"DSW_{service.upper()}_DATABASE_URL", None)
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [str(BIN / "dsw"), "up"], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 300.0) -> float:
    # Longer than `dsw up` alone needs: the integration tier runs two workers, and MLflow's first
    # start (creating its store) competes for the same two cores.
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        # The last line `dsw up` prints once ready: every URL line before it is in the log.
        if "Press Ctrl-C to stop." in log.read_text():
            return time.monotonic() - started
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"not ready within {timeout}s:\n{log.read_text()}")


def _wait_for_mlflow(url: str, process: subprocess.Popen[bytes], timeout: float = 400.0) -> None:
    """The MLflow UI answers (its first start creates its schema: slow on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, "dsw up stopped"
        assert time.monotonic() < deadline, f"the MLflow UI did not answer within {timeout}s"
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(30)


@pytest.mark.timeout(900)
def test_dsw_up_status_restart(tmp_path: Path) -> None:
    # `make run` installs MLflow's server in its tool environment; `dsw up` serves its UI.
    subprocess.run(["make", "-s", "mlflow-tool"], cwd=ROOT, check=True, capture_output=True)
    env = _environment(tmp_path / "home")
    catalog = f"http://127.0.0.1:{env['DSW_CATALOG_PORT']}"
    mlflow_ui = f"http://127.0.0.1:{env['DSW_MLFLOW_UI_PORT']}"
    process = _start(env, tmp_path / "up1.log")
    try:
        _wait_ready(process, tmp_path / "up1.log")
        assert f"MLflow UI: {mlflow_ui}" in (tmp_path / "up1.log").read_text()
        _wait_for_mlflow(mlflow_ui, process)
        # The UI reads the embedded tracking store the services write to.
        experiments = httpx.post(
            f"{mlflow_ui}/api/2.0/mlflow/experiments/search", json={"max_results": 10}, timeout=10
        )
        assert experiments.status_code == 200, experiments.text
        status = subprocess.run(
            [str(BIN / "dsw"), "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.returncode == 0, status.stderr
        ready = json.loads(status.stdout)
        assert all(entry["ready"] for entry in ready.values())
        assert ready["mlflow-ui"]["url"] == mlflow_ui
        token = subprocess.run(
            [str(BIN / "dsw"), "token"], env=env, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{catalog}/catalog/v1/datasets", json={"name": "kept"}, headers=headers
        )
        assert created.status_code == 201, created.text
    finally:
        assert _stop(process) == 0
    assert "stopped." in (tmp_path / "up1.log").read_text()
    assert not (tmp_path / "home" / "stack.json").exists()

    process = _start(env, tmp_path / "up2.log")
    try:
        _wait_ready(process, tmp_path / "up2.log")
        listed = httpx.get(f"{catalog}/catalog/v1/datasets", headers=headers).json()
        assert [item["name"] for item in listed["items"]] == ["kept"]
    finally:
        assert _stop(process) == 0
