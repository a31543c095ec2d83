"""Benchmark: serving predict vs a bare FastAPI booster handler vs ``mlflow models serve``.

    .venv/bin/python bench/bench_serving.py [--seconds 15] [--fixed-seconds 60] [--no-fixed]

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

Then (unless ``--no-fixed``) ``--fixed-seconds`` at about 500 requests/s on (a) while a second
training run's model is published as revision 2 and promoted half way: every request must succeed.

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
from pathlib import Path
from typing import Any

import httpx

from dsw_kit.auth import Authenticator
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import AuthSettings

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
RETAIL_SCHEMA: dict[str, Any] = {
    "title": "Retail sales",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "retail",
    "tenantFields": {
        "properties": {
            "date": {"type": "string", "format": "date"},
            "store": {"type": "integer", "minimum": 1, "maximum": 1000},
            "storeType": {"type": "string", "enum": ["A", "B", "C"]},
            "weeklySales": {"type": "number", "minimum": 0},
            "storeSize": {"type": "integer", "minimum": 0},
            "temperature": {"type": "number"},
            "regionalFuelPrice": {"type": "number", "minimum": 0},
            "markDown": {"type": "number"},
            "cpi": {"type": "number"},
            "unemployment": {"type": "number", "minimum": 0, "maximum": 100},
            "isHoliday": {"type": "boolean"},
        },
        "required": ["date", "store", "weeklySales"],
    },
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
    failed = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(value) for value in errors.groups()) if errors else 0
    )
    return {
        "rps": rps,
        "p50_ms": percentiles.get(50),
        "p99_ms": percentiles.get(99),
        "requests": total,
        "failed": failed,
    }


def measure(wrk: str, name: str, url: str, script: Path, seconds: int) -> dict[str, Any]:
    run_wrk(wrk, url, script, 3)  # warm-up
    result = run_wrk(wrk, url, script, seconds)
    print(
        f"{name:<34} {result['rps']:>9.0f} req/s   p50 {result['p50_ms']:.2f} ms   "
        f"p99 {result['p99_ms']:.2f} ms   failed {result['failed']}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per target")
    parser.add_argument("--fixed-seconds", type=int, default=60, help="fixed-rate run length")
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-rate promotion run")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="only (a) and (b): no MLflow")
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    mlflow_bin = ensure_mlflow_venv()
    work = Path(tempfile.mkdtemp(prefix="dsw-bench-serving-", dir=args.workdir))
    home = work / "home"
    home.mkdir()
    broker = TansuBroker(log_path=work / "tansu.log").start()
    processes: list[Process] = []
    try:
        scopes = ["catalog:admin", "training:admin", "serving:admin"]
        token = Authenticator(AuthSettings(), home).issuer().issue("bench", scopes, org_id="bench")
        ports = {name: free_port() for name in ("catalog", "training", "serving", "bare", "mlflow")}
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        env = {
            key: value
            for key, value in os.environ.items()
            if not (key.startswith("DSW_") and key.endswith("_DATABASE_URL"))
        }
        env.update(
            DSW_HOME=str(home),
            DSW_KAFKA_BOOTSTRAP=broker.bootstrap,
            DSW_LOG_JSON="false",
            DSW_LOG_LEVEL="WARNING",
            DSW_CATALOG_INGEST_POLL_SECONDS="0.1",
            DSW_TRAINING_CATALOG_URL=url["catalog"],
            DSW_TRAINING_RUN_POLL_SECONDS="0.5",
            DSW_SERVING_TRAINING_URL=url["training"],
            DSW_SERVING_EMBEDDED_WORKERS="false",
        )
        headers = {"Authorization": f"Bearer {token}"}
        clients = {
            name: httpx.Client(base_url=url[name], headers=headers, timeout=600)
            for name in ("catalog", "training", "serving")
        }
        for name in ("catalog", "training", "serving"):
            process = Process(
                name, [str(BIN / f"dsw-{name}"), "api", "--port", str(ports[name])], env, home
            )
            processes.append(process)
            _wait_http(url[name], process, "/readyz")
        catalog, training, serving = clients["catalog"], clients["training"], clients["serving"]
        run, model_id = train_model(catalog, training)
        print(f"trained {run['mlflow']['model_uri']} ({PARAMS['n_estimators']} trees)", flush=True)
        body = {"name": "bench", "source": {"training_run_id": run["id"]}}
        _call(serving, "POST", "/serving/v1/services", 201, json=body)
        key = _call(serving, "POST", "/serving/v1/services/bench/keys", 201, json={"name": "wrk"})[
            "key"
        ]
        answer = _call(
            serving,
            "POST",
            "/serving/v1/services/bench/predict",
            200,
            json={"records": [RECORD]},
            headers={"x-api-key": key},
        )
        print(f"prediction {answer['predictions']}", flush=True)

        tracking = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
        import mlflow.artifacts

        local_model = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=run["mlflow"]["model_uri"],
                tracking_uri=tracking,
                dst_path=str(work / "model"),
            )
        )
        bare_env = env | {"BENCH_MODEL_URI": str(local_model), "BENCH_TRACKING": tracking}
        (work / "bare_app.py").write_text(BARE_APP)
        bare = Process(
            "bare",
            [
                str(BIN / "uvicorn"),
                "--app-dir",
                str(work),
                "bare_app:app",
                "--port",
                str(ports["bare"]),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            bare_env,
            home,
        )
        processes.append(bare)
        _wait_http(url["bare"], bare, "/docs")
        if args.profile:
            script = lua_script(work / "a.lua", {"records": [RECORD]}, {"x-api-key": key})
            target = f"{url['serving']}/serving/v1/services/bench/predict"
            measure(wrk, "(a) serving predict", target, script, args.seconds)
            script = lua_script(work / "b.lua", {"records": [RECORD]}, {})
            measure(wrk, "(b) bare", f"{url['bare']}/predict", script, args.seconds)
            return {}
        mlflow_env = env | {"PATH": f"{mlflow_bin}:{env.get('PATH', '')}"}
        served = Process(
            "mlflow",
            [
                str(mlflow_bin / "mlflow"),
                "models",
                "serve",
                "-m",
                str(local_model),
                "--env-manager",
                "local",
                "-p",
                str(ports["mlflow"]),
                "-h",
                "127.0.0.1",
                "-w",
                "1",
            ],
            mlflow_env,
            home,
        )
        processes.append(served)
        _wait_http(url["mlflow"], served, "/ping", timeout=600)
        check = httpx.post(f"{url['mlflow']}/invocations", json={"dataframe_records": [RECORD]})
        print(f"mlflow prediction {check.text[:200]}", flush=True)
        check.raise_for_status()

        predict_script = lua_script(work / "a.lua", {"records": [RECORD]}, {"x-api-key": key})
        bare_script = lua_script(work / "b.lua", {"records": [RECORD]}, {})
        mlflow_script = lua_script(work / "c.lua", {"dataframe_records": [RECORD]}, {})
        print(f"wrk: 16 connections, 1 record per request, {args.seconds} s after a 3 s warm-up")
        a = measure(
            wrk,
            "(a) serving predict (key, log on)",
            f"{url['serving']}/serving/v1/services/bench/predict",
            predict_script,
            args.seconds,
        )
        b = measure(
            wrk, "(b) bare FastAPI + booster", f"{url['bare']}/predict", bare_script, args.seconds
        )
        c = measure(
            wrk,
            "(c) mlflow models serve",
            f"{url['mlflow']}/invocations",
            mlflow_script,
            args.seconds,
        )
        served.stop()
        bare.stop()
        ratios = {
            "ratio_vs_bare": round(a["rps"] / b["rps"], 3),
            "ratio_vs_mlflow": round(a["rps"] / c["rps"], 2),
            "p99_ratio_vs_mlflow": round(a["p99_ms"] / c["p99_ms"], 4),
        }
        print(
            f"(a)/(b) {ratios['ratio_vs_bare']:.2f} (target >= 0.8)   "
            f"(a)/(c) {ratios['ratio_vs_mlflow']:.1f}x (target >= 20)   "
            f"p99 (a)/(c) {ratios['p99_ratio_vs_mlflow']:.3f} (target <= 0.1)",
            flush=True,
        )
        fixed: dict[str, Any] = {}
        if not args.no_fixed:
            fixed = fixed_rate_with_promotion(
                wrk, work, url["serving"], serving, training, model_id, key, args.fixed_seconds
            )
        result = {
            "bench": "serving",
            "rps": round(a["rps"], 1),
            **ratios,
            "p50_ms": a["p50_ms"],
            "p99_ms": a["p99_ms"],
            "failed": a["failed"],
            "bare_rps": round(b["rps"], 1),
            "bare_p99_ms": b["p99_ms"],
            "mlflow_rps": round(c["rps"], 1),
            "mlflow_p99_ms": c["p99_ms"],
            **fixed,
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        for process in reversed(processes):
            process.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def fixed_rate_with_promotion(
    wrk: str,
    work: Path,
    serving_url: str,
    serving: httpx.Client,
    training: httpx.Client,
    model_id: str,
    key: str,
    seconds: int,
) -> dict[str, Any]:
    """~500 req/s for ``seconds`` while revision 2 (a new training run) is promoted half way."""
    second = run_training(training, model_id, {"n_estimators": 150})
    connections = 16
    # Each connection waits its share of the period before each request: about 500 req/s.
    script = lua_script(
        work / "fixed.lua",
        {"records": [RECORD]},
        {"x-api-key": key},
        delay_ms=1000 * connections / 500,
    )
    url = f"{serving_url}/serving/v1/services/bench/predict"
    process = subprocess.Popen(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds / 2)
    started = time.perf_counter()
    revision = _call(
        serving,
        "POST",
        "/serving/v1/services/bench/revisions",
        201,
        json={"source": {"training_run_id": second["id"]}, "promote": True},
    )
    promote_ms = (time.perf_counter() - started) * 1000
    output, _ = process.communicate(timeout=seconds + 60)
    live = _call(
        serving,
        "POST",
        "/serving/v1/services/bench/predict",
        200,
        json={"records": [RECORD]},
        headers={"x-api-key": key},
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(value) for value in errors.groups()) if errors else 0
    )
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    print(
        f"fixed rate: {rps:.0f} req/s for {seconds} s, {total} requests, {failed} failed; "
        f"revision {revision['number']} promoted in {promote_ms:.0f} ms half way, "
        f"now answering revision {live['revision']}; p99 {p99.group(1) if p99 else '?'}",
        flush=True,
    )
    return {
        "fixed_rps": rps,
        "fixed_requests": total,
        "fixed_failed": failed,
        "fixed_p99_ms": _ms(p99.group(1)) if p99 else None,
        "promoted_to": live["revision"],
    }


if __name__ == "__main__":
    main()
