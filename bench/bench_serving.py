"""Benchmark: serving predict vs a bare FastAPI booster handler vs ``mlflow models serve``.

    .venv/bin/python bench/bench_serving.py [--seconds 15] [--fixed-seconds 60] [--no-fixed]
                                            [--fixed-rate 500] [--load-only]

Starts a Tansu broker and real processes in a temporary data home: ``dsw-catalog api``,
``dsw-training api`` (with its worker) and ``dsw-serving api`` (uvicorn, as in production; its
consumers off: storing the invocation log is a downstream consumer's work, the log itself is on).
Ingests the retail sample and trains a ``retail-sales`` model (20 features, 200 trees; a real
training run registered in MLflow), publishes it as a service and creates an API key.

Side by side, with ``wrk`` (16 connections, one record per request, ``--seconds`` after a
warm-up), on the same model:

(a) ``POST /serving/v1/services/bench/predict`` with the API key: authentication, validation
    against the model's inputs, metrics and invocation logging (sample rate 1.0) on;
(b) a bare FastAPI handler on uvicorn: JSON -> NumPy columns -> the model's feature builder ->
    ``booster.predict`` -> JSON, nothing else;
(c) ``mlflow models serve --env-manager local`` of the same MLflow model (MLflow's own scoring
    server, from a separate virtualenv ``.tools/mlflow-venv``: full MLflow pins pyarrow < 26).

Then (unless ``--no-fixed``) the load run: ``--fixed-seconds`` (60) at ``--fixed-rate`` (500)
requests/s in all, round robin over three published services, paced open loop (each request takes
the next slot of a fixed timetable; 64 connections; an answer slower than 5 s is a failure). A
second training run's model is published and promoted on every service a third of the way in, and
every service is rolled back at two thirds: every request must succeed. ``--load-only`` runs just
this (no MLflow needed); the test suite runs it that way (``tests/test_load_serving.py``).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from dsw_kit.auth import Authenticator
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import AuthSettings
from dsw_kit.testing.samples import RETAIL_SCHEMA

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VENV = ROOT / ".tools" / "mlflow-venv"
FINAL = {"succeeded", "failed", "cancelled"}
PARAMS = {"n_estimators": 200, "num_leaves": 31, "num_threads": 1}
RECORD = {
    "date": "2012-02-10",
    "store": 1,
    "storeType": "A",
    "storeSize": 151315,
    "temperature": 48.02,
    "regionalFuelPrice": 3.409,
    "markdown": 0.0,
    "cpi": 220.265,
    "unemployment": 7.348,
    "isHoliday": True,
}

BARE_APP = textwrap.dedent(
    '''
    """(b): the least a FastAPI handler can do: JSON -> NumPy -> feature builder -> booster."""
    import os

    import numpy as np
    from dsw_recipe import load_model
    from fastapi import FastAPI, Request

    MODEL = load_model(os.environ["BENCH_MODEL_URI"], tracking_uri=os.environ["BENCH_TRACKING"])
    FAST = MODEL.fast_path
    TYPES = {"number": np.float64, "integer": np.int64, "boolean": np.bool_}
    app = FastAPI()


    @app.post("/predict")
    async def predict(request: Request) -> dict:
        records = (await request.json())["records"]
        columns = {}
        for field in FAST.inputs:
            values = [record.get(field.name) for record in records]
            if field.type in ("date", "date-time"):
                columns[field.name] = np.array(values, dtype="datetime64[us]")
            else:
                columns[field.name] = np.array(values, dtype=TYPES.get(field.type, object))
        return {"predictions": FAST.predict(columns).tolist()}
    '''
)


class Process:
    """A child process, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], home: Path) -> None:
        self.name = name
        self.log = home / f"{name}.log"
        self._handle = self.log.open("wb")
        self.process = subprocess.Popen(
            args, env=env, stdout=self._handle, stderr=subprocess.STDOUT, cwd=home
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._handle.close()


def _wait_http(url: str, process: Process, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):  # not listening yet: ask again
            if httpx.get(url + path, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{process.name} not ready:\n{process.log.read_text()[-3000:]}")


def _call(client: httpx.Client, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code != status:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
    return response.json()


def _wait(client: httpx.Client, path: str, key: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = client.get(path).json()
        if item[key] in FINAL | {"success", "failed"}:
            return item
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not finish")


def train_model(catalog: httpx.Client, training: httpx.Client) -> tuple[dict[str, Any], str]:
    """A retail dataset, a 200-tree model and its first succeeded run."""
    from dsw_recipe.datasets import retail_training_path

    schema = _call(catalog, "POST", "/catalog/v1/schemas", 201, json=RETAIL_SCHEMA)
    dataset = _call(
        catalog,
        "POST",
        "/catalog/v1/datasets",
        201,
        json={"name": "retail", "schema_id": schema["id"]},
    )
    body = {"format": "csv", "formats": {"_retail.date": "%m/%d/%y"}}
    batch = _call(catalog, "POST", f"/catalog/v1/datasets/{dataset['id']}/batches", 201, json=body)
    content = Path(retail_training_path()).read_bytes()
    _call(
        catalog, "PUT", f"/catalog/v1/batches/{batch['id']}/files/retail.csv", 200, content=content
    )
    _call(catalog, "POST", f"/catalog/v1/batches/{batch['id']}/complete", 202)
    if _wait(catalog, f"/catalog/v1/batches/{batch['id']}", "status", 600)["status"] != "success":
        raise RuntimeError("ingestion failed")
    model_body = {
        "name": "retail-bench",
        "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
        "hyperparameters": PARAMS,
        "dataset_id": dataset["id"],
    }
    model = _call(training, "POST", "/training/v1/models", 201, json=model_body)
    return run_training(training, model["id"]), str(model["id"])


def run_training(
    training: httpx.Client, model_id: str, overrides: dict[str, Any] | None = None
) -> Any:
    run = _call(
        training,
        "POST",
        f"/training/v1/models/{model_id}/runs",
        202,
        json={"hyperparameters": overrides or {}},
    )
    run = _wait(training, f"/training/v1/runs/{run['id']}", "state", 900)
    if run["state"] != "succeeded":
        raise RuntimeError(f"training {run['state']}: {run.get('error')}")
    return run


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def ensure_mlflow_venv() -> Path:
    """Full MLflow (and dsw-recipe, whose models it loads) in a separate virtualenv."""
    python = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
        print(f"creating {MLFLOW_VENV} (full MLflow)", flush=True)
        subprocess.run([uv, "venv", "-q", "-p", "3.11", str(MLFLOW_VENV)], check=True)
        from importlib.metadata import version

        pins = [f"mlflow=={version('mlflow-skinny')}", f"lightgbm=={version('lightgbm')}"]
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), *pins], check=True)
        # dsw-recipe itself asks for pyarrow >= 26, which MLflow refuses: installed without deps.
        recipe = str(ROOT / "libs" / "recipe")
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), "--no-deps", "-e", recipe],
            check=True,
        )
    return MLFLOW_VENV / "bin"


def lua_script(
    path: Path, body: dict[str, Any], headers: dict[str, str], delay_ms: float = 0
) -> Path:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps(body))}",
        'wrk.headers["Content-Type"] = "application/json"',
        *[f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()],
    ]
    if delay_ms:
        lines.append(f"function delay() return {delay_ms} end")
    path.write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    wrk: str, url: str, script: Path, seconds: int, connections: int = 16
) -> dict[str, Any]:
    output = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse_wrk(output)


def measure(wrk: str, name: str, url: str, script: Path, seconds: int) -> dict[str, Any]:
    run_wrk(wrk, url, script, 3)  # warm-up
    result = run_wrk(wrk, url, script, seconds)
    print(
        f"{name:<34} {result['rps']:>9.0f} req/s   p50 {result['p50_ms']:.2f} ms   "
        f"p99 {result['p99_ms']:.2f} ms   failed {result['failed']}",
        flush=True,
    )
    return result


class Stack:
    """Tansu, catalog, training (with its worker) and serving as real processes in one data home."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.home = work / "home"
        self.home.mkdir()
        self.broker = TansuBroker(log_path=work / "tansu.log").start()
        self.processes: list[Process] = []
        scopes = ["catalog:admin", "training:admin", "serving:admin"]
        issuer = Authenticator(AuthSettings(), self.home).issuer()
        token = issuer.issue("bench", scopes, org_id="bench")
        self.ports = {name: free_port() for name in ("catalog", "training", "serving", "bare")}
        self.ports["mlflow"] = free_port()
        self.url = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not (key.startswith("DSW_") and key.endswith("_DATABASE_URL"))
        }
        self.env.update(
            DSW_HOME=str(self.home),
            DSW_KAFKA_BOOTSTRAP=self.broker.bootstrap,
            DSW_LOG_JSON="false",
            DSW_LOG_LEVEL="WARNING",
            DSW_CATALOG_INGEST_POLL_SECONDS="0.1",
            DSW_TRAINING_CATALOG_URL=self.url["catalog"],
            DSW_TRAINING_RUN_POLL_SECONDS="0.5",
            DSW_SERVING_TRAINING_URL=self.url["training"],
            DSW_SERVING_EMBEDDED_WORKERS="false",
        )
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = {
            name: httpx.Client(base_url=self.url[name], headers=headers, timeout=600)
            for name in ("catalog", "training", "serving")
        }

    def start_services(self) -> None:
        for name in ("catalog", "training", "serving"):
            args = [str(BIN / f"dsw-{name}"), "api", "--port", str(self.ports[name])]
            self.start(name, args, self.env, "/readyz")

    def start(self, name: str, args: list[str], env: dict[str, str], ready: str) -> Process:
        process = Process(name, args, env, self.home)
        self.processes.append(process)
        _wait_http(self.url[name], process, ready, timeout=600)
        return process

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        for process in reversed(self.processes):
            process.stop()
        self.broker.stop()


def publish_bench_service(stack: Stack) -> tuple[dict[str, Any], str, str]:
    """Train the model, publish it as ``bench`` with an API key: (first run, model id, key)."""
    catalog, training, serving = (stack.clients[n] for n in ("catalog", "training", "serving"))
    run, model_id = train_model(catalog, training)
    print(f"trained {run['mlflow']['model_uri']} ({PARAMS['n_estimators']} trees)", flush=True)
    body = {"name": "bench", "source": {"training_run_id": run["id"]}}
    _call(serving, "POST", "/serving/v1/services", 201, json=body)
    key = _call(serving, "POST", "/serving/v1/services/bench/keys", 201, json={"name": "wrk"})
    answer = _call(
        serving,
        "POST",
        "/serving/v1/services/bench/predict",
        200,
        json={"records": [RECORD]},
        headers={"x-api-key": key["key"]},
    )
    print(f"prediction {answer['predictions']}", flush=True)
    return run, model_id, str(key["key"])


def start_baselines(stack: Stack, run: dict[str, Any], mlflow_bin: Path | None) -> None:
    """(b) the bare FastAPI app and, given full MLflow's bin folder, (c) ``mlflow models serve``."""
    tracking = f"sqlite:///{stack.home / 'mlflow' / 'mlflow.db'}"
    import mlflow.artifacts

    local_model = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=run["mlflow"]["model_uri"],
            tracking_uri=tracking,
            dst_path=str(stack.work / "model"),
        )
    )
    bare_env = stack.env | {"BENCH_MODEL_URI": str(local_model), "BENCH_TRACKING": tracking}
    (stack.work / "bare_app.py").write_text(BARE_APP)
    uvicorn = [str(BIN / "uvicorn"), "--app-dir", str(stack.work), "bare_app:app"]
    quiet = ["--no-access-log", "--log-level", "warning"]
    stack.start("bare", [*uvicorn, "--port", str(stack.ports["bare"]), *quiet], bare_env, "/docs")
    if mlflow_bin is None:
        return
    serve = [str(mlflow_bin / "mlflow"), "models", "serve", "-m", str(local_model)]
    options = ["--env-manager", "local", "-p", str(stack.ports["mlflow"]), "-h", "127.0.0.1"]
    mlflow_env = stack.env | {"PATH": f"{mlflow_bin}:{stack.env.get('PATH', '')}"}
    stack.start("mlflow", [*serve, *options, "-w", "1"], mlflow_env, "/ping")
    check = httpx.post(f"{stack.url['mlflow']}/invocations", json={"dataframe_records": [RECORD]})
    print(f"mlflow prediction {check.text[:200]}", flush=True)
    check.raise_for_status()


def compare(wrk: str, stack: Stack, key: str, seconds: int, with_mlflow: bool) -> dict[str, Any]:
    """(a), (b) and (c) one after the other with the same wrk settings; their figures and ratios."""
    work, url = stack.work, stack.url
    predict = lua_script(work / "a.lua", {"records": [RECORD]}, {"x-api-key": key})
    bare = lua_script(work / "b.lua", {"records": [RECORD]}, {})
    print(f"wrk: 16 connections, 1 record per request, {seconds} s after a 3 s warm-up")
    a = measure(
        wrk,
        "(a) serving predict (key, log on)",
        f"{url['serving']}/serving/v1/services/bench/predict",
        predict,
        seconds,
    )
    b = measure(wrk, "(b) bare FastAPI + booster", f"{url['bare']}/predict", bare, seconds)
    figures = {
        "rps": round(a["rps"], 1),
        "ratio_vs_bare": round(a["rps"] / b["rps"], 3),
        "p50_ms": a["p50_ms"],
        "p99_ms": a["p99_ms"],
        "failed": a["failed"],
        "bare_rps": round(b["rps"], 1),
        "bare_p99_ms": b["p99_ms"],
    }
    if not with_mlflow:
        return figures
    mlflow = lua_script(work / "c.lua", {"dataframe_records": [RECORD]}, {})
    c = measure(wrk, "(c) mlflow models serve", f"{url['mlflow']}/invocations", mlflow, seconds)
    figures |= {
        "ratio_vs_mlflow": round(a["rps"] / c["rps"], 2),
        "p99_ratio_vs_mlflow": round(a["p99_ms"] / c["p99_ms"], 4),
        "mlflow_rps": round(c["rps"], 1),
        "mlflow_p99_ms": c["p99_ms"],
    }
    print(
        f"(a)/(b) {figures['ratio_vs_bare']:.2f} (target >= 0.8)   "
        f"(a)/(c) {figures['ratio_vs_mlflow']:.1f}x (target >= 20)   "
        f"p99 (a)/(c) {figures['p99_ratio_vs_mlflow']:.3f} (target <= 0.1)",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per target")
    parser.add_argument("--fixed-seconds", type=int, default=60, help="fixed-rate run length")
    parser.add_argument("--fixed-rate", type=int, default=500, help="fixed-rate requests/s")
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-rate load run")
    parser.add_argument("--load-only", action="store_true", help="only the fixed-rate load run")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="only (a) and (b): no MLflow")
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    with_mlflow = not (args.profile or args.load_only)
    mlflow_bin = ensure_mlflow_venv() if with_mlflow else None
    stack = Stack(Path(tempfile.mkdtemp(prefix="dsw-bench-serving-", dir=args.workdir)))
    try:
        stack.start_services()
        run, model_id, key = publish_bench_service(stack)
        result: dict[str, Any] = {"bench": "serving"}
        if not args.load_only:
            start_baselines(stack, run, mlflow_bin)
            result |= compare(wrk, stack, key, args.seconds, with_mlflow)
            for process in stack.processes[3:]:
                process.stop()  # the baselines: the load run has the machine to itself
        if not (args.no_fixed or args.profile):
            result |= fixed_rate_load(
                wrk, stack, model_id, run["id"], args.fixed_seconds, args.fixed_rate
            )
        print(json.dumps(result), flush=True)
        return result
    finally:
        stack.stop()
        shutil.rmtree(stack.work, ignore_errors=True)


LOAD_SERVICES = ("bench", "bench-2", "bench-3")
PACED_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} dsw_timespec;
int clock_gettime(int clock_id, dsw_timespec *spec);
]]
local spec = ffi.new("dsw_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, spec)  -- CLOCK_MONOTONIC
  return tonumber(spec.tv_sec) * 1000 + tonumber(spec.tv_nsec) / 1e6
end
local body = {body}
local targets = {{ {targets} }}
local period_ms = {period_ms}
local next_at = nil
local sent = 0

function request()
  sent = sent + 1
  local target = targets[(sent % #targets) + 1]
  return wrk.format("POST", target[1], {{
    ["Content-Type"] = "application/json", ["x-api-key"] = target[2] }}, body)
end

-- Open-loop pacing: each request of this thread takes the next slot of a fixed timetable, so
-- the rate does not sag when answers slow down (a plain per-connection delay would).
function delay()
  local now = now_ms()
  next_at = (next_at or now) + period_ms
  if next_at < now then return 0 end
  return next_at - now
end
"""


def paced_script(path: Path, targets: list[tuple[str, str]], rate: int, threads: int) -> Path:
    """A wrk script sending ``rate`` req/s in all, round robin over ``(path, api key)`` targets."""
    listed = ", ".join(f"{{{json.dumps(p)}, {json.dumps(k)}}}" for p, k in targets)
    path.write_text(
        PACED_SCRIPT.format(
            body=json.dumps(json.dumps({"records": [RECORD]})),
            targets=listed,
            period_ms=1000 * threads / rate,
        )
    )
    return path


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99, totals and failures (non-2xx answers plus socket errors)."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {
        int(match.group(1)): _ms(match.group(2))
        for match in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE)
    }
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    kinds = ("connect", "read", "write", "timeout")
    socket_errors = dict(zip(kinds, map(int, errors.groups()), strict=True)) if errors else {}
    non_2xx_count = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "rps": rps,
        "p50_ms": percentiles.get(50),
        "p99_ms": percentiles.get(99),
        "requests": total,
        "failed": non_2xx_count + sum(socket_errors.values()),
        "non_2xx": non_2xx_count,
        "socket_errors": socket_errors,
    }


def publish_load_services(serving: httpx.Client, run_id: str) -> list[tuple[str, str]]:
    """The three services of the load run (``bench`` exists already): ``(predict path, key)``."""
    targets = []
    for name in LOAD_SERVICES:
        if name != "bench":
            body = {"name": name, "source": {"training_run_id": run_id}}
            _call(serving, "POST", "/serving/v1/services", 201, json=body)
        key = _call(
            serving, "POST", f"/serving/v1/services/{name}/keys", 201, json={"name": "load"}
        )
        targets.append((f"/serving/v1/services/{name}/predict", key["key"]))
    return targets


def _for_each_service(action: Callable[[str], Any]) -> float:
    """Run ``action(name)`` on every load service in turn; the milliseconds it all took."""
    started = time.perf_counter()
    for name in LOAD_SERVICES:
        action(name)
    return (time.perf_counter() - started) * 1000


def live_revisions(
    serving: httpx.Client, targets: list[tuple[str, str]], expected: int, timeout: float = 30.0
) -> dict[str, int]:
    """The revision each service answers from, once all answer ``expected`` (a serving process
    picks a change up on its next poll) or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        live = {
            name: _call(
                serving, "POST", path, 200, json={"records": [RECORD]}, headers={"x-api-key": key}
            )["revision"]
            for name, (path, key) in zip(LOAD_SERVICES, targets, strict=True)
        }
        if set(live.values()) == {expected} or time.monotonic() > deadline:
            return live
        time.sleep(0.5)


def fixed_rate_load(
    wrk: str, stack: Stack, model_id: str, first_run_id: str, seconds: int, rate: int
) -> dict[str, Any]:
    """``rate`` req/s for ``seconds`` over three services; promote a new revision on each at a
    third of the run and roll each back at two thirds. Every request must succeed."""
    serving, training = stack.clients["serving"], stack.clients["training"]
    second = run_training(training, model_id, {"n_estimators": 150})
    targets = publish_load_services(serving, first_run_id)
    threads, connections = 2, 64
    script = paced_script(stack.work / "paced.lua", targets, rate, threads)
    # An answer slower than 5 s counts as a failed request (wrk's own default is 2 s).
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    command += ["--latency", "-s"]
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, str(script), stack.url["serving"]], stdout=subprocess.PIPE, text=True
    )
    time.sleep(seconds / 3)
    revision = {"source": {"training_run_id": second["id"]}, "promote": True}
    promote_ms = _for_each_service(
        lambda name: _call(
            serving, "POST", f"/serving/v1/services/{name}/revisions", 201, json=revision
        )
    )
    time.sleep(max(0.0, started + 2 * seconds / 3 - time.monotonic()))
    rollback_ms = _for_each_service(
        lambda name: _call(serving, "POST", f"/serving/v1/services/{name}/rollback", 200)
    )
    output, _ = process.communicate(timeout=seconds + 60)
    result = parse_wrk(output)
    live = live_revisions(serving, targets, expected=1)
    print(
        f"fixed rate: {result['rps']:.0f} req/s (asked {rate}) for {seconds} s over "
        f"{len(LOAD_SERVICES)} services, {result['requests']} requests, {result['failed']} failed "
        f"({result['non_2xx']} non-2xx, socket errors {result['socket_errors']}); revision 2 "
        f"promoted on each at {seconds // 3} s (took {promote_ms:.0f} ms), rolled back at "
        f"{2 * seconds // 3} s (took {rollback_ms:.0f} ms); live now {live}; "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms",
        flush=True,
    )
    return {
        "fixed_rate_asked": rate,
        "fixed_rps": result["rps"],
        "fixed_requests": result["requests"],
        "fixed_failed": result["failed"],
        "fixed_p50_ms": result["p50_ms"],
        "fixed_p99_ms": result["p99_ms"],
        "fixed_services": len(LOAD_SERVICES),
        "fixed_live_revisions": live,
    }


if __name__ == "__main__":
    main()
