"""A user's first steps with `dsw`, from a folder outside the repository, against `dsw up`.

The commands get no ``DSW_HOME`` and no token: they find the running platform through the
pointer `dsw up` writes in the user's configuration folder, and sign with its own secret.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dsw_recipe.datasets import retail_training_path

from dsw.demo import demo_records
from dsw_kit.broker import free_port
from dsw_kit.testing.samples import RETAIL_FORMATS, RETAIL_SCHEMA

pytestmark = pytest.mark.integration
DSW = str(Path(sys.executable).parent / "dsw")
SERVICES = ("catalog", "recipes", "training", "scoring", "serving")
FAST = {"n_estimators": 15, "num_leaves": 8, "num_threads": 1}


def _environment(user: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DSW_")}
    env.update(
        HOME=str(user / "home"),
        XDG_CONFIG_HOME=str(user / "config"),
        DSW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        DSW_CONSOLE_PORT=str(free_port()),
    )
    for service in SERVICES:
        env[f"DSW_{service.upper()}_PORT"] = str(free_port())
    return env


def test_cli_from_any_folder(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = tmp_path / "up.log"
    # The data home is somewhere the commands are not told about.
    up_env = {**env, "DSW_HOME": str(tmp_path / "platform")}
    with open(log, "wb") as handle:
        up = subprocess.Popen([DSW, "up"], env=up_env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "The platform is ready" not in log.read_text():
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)

        def dsw(*args: str) -> str:
            result = subprocess.run(
                [DSW, *args], env=env, cwd=elsewhere, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, (args, result.stdout, result.stderr)
            return result.stdout

        def dsw_json(*args: str) -> Any:
            return json.loads(dsw(*args, "--json"))

        token = dsw("token").strip()
        catalog = f"http://127.0.0.1:{env['DSW_CATALOG_PORT']}"
        listed = httpx.get(
            f"{catalog}/catalog/v1/datasets", headers={"Authorization": f"Bearer {token}"}
        )
        assert listed.status_code == 200, listed.text  # the platform knows this token's secret
        # Every service; the MLflow UI is optional (not started here: no tool environment needed).
        statuses = dsw_json("status")
        assert all(entry["ready"] for name, entry in statuses.items() if name != "mlflow-ui")
        assert dsw_json("datasets", "list") == []

        schema_file = elsewhere / "schema.json"
        schema_file.write_text(json.dumps(RETAIL_SCHEMA))
        schema = dsw_json("schemas", "create", str(schema_file))
        dsw_json("datasets", "create", "sales", "--schema", schema["id"])
        date_format = "=".join(next(iter(RETAIL_FORMATS.items())))
        ingest = ("datasets", "ingest", "sales", str(retail_training_path()), "--date-format")
        assert dsw_json(*ingest, date_format)["status"] == "success"
        assert "5175" in dsw("datasets", "list")
        params = [arg for name, value in FAST.items() for arg in ("-p", f"{name}={value}")]
        model = ("--recipe", "retail-sales", "--version", "1.0.0", "--dataset", "sales")
        dsw_json("models", "create", "forecast", *model, *params)
        run = dsw_json("train", "forecast")
        assert run["state"] == "succeeded", run
        dsw_json("services", "publish", "sales-forecast", "--run", run["id"])
        record = {k: v for k, v in demo_records(1)[0].items() if k != "weeklySales"}
        answer = dsw_json("predict", "sales-forecast", json.dumps([record]))
        assert len(answer["predictions"]) == 1
        # Nothing was written where the commands ran.
        assert sorted(path.name for path in elsewhere.iterdir()) == ["schema.json"]
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
    assert not (tmp_path / "config" / "dsw" / "embedded.json").exists()
    stopped = subprocess.run(
        [DSW, "status"], env=env, cwd=elsewhere, capture_output=True, text=True, timeout=60
    )
    assert stopped.returncode == 1
    assert "not running" in stopped.stderr
