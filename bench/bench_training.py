"""Benchmark: training orchestration overhead, and run throughput with one and two workers.

    .venv/bin/python bench/bench_training.py [--repeats 5] [--queued 20] [--small]

Starts a Tansu broker, a catalog process and a training API process (``dsw-catalog api``,
``dsw-training api`` with its workers off) in a temporary data home, ingests the retail sample
through the catalog and creates a ``retail-sales`` model.

Overhead: with one ``dsw-training worker runs`` process, the time from ``POST .../runs`` to
``succeeded`` (handing the job to the worker's waiting training process, reading the snapshot
from the lake, MLflow run, params, metrics, model with signature, registered version, state
writes) for runs that reach a worker idle for ``--idle-seconds``, median of ``--repeats``,
against the same recipe's prepare + split + train + evaluate called in-process on the same
rows (median of as many repeats), printed side by side with the difference.

Throughput: ``--queued`` small runs queued at once, drained by one worker process, then by two.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from dsw_kit.auth import Authenticator
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import AuthSettings
from dsw_kit.testing.samples import RETAIL_SCHEMA

BIN = Path(sys.executable).parent
# The overhead runs use the recipe's defaults (200 rounds) on one thread per run.
OVERHEAD_PARAMS = {"num_threads": 1}
SMALL_PARAMS = {"n_estimators": 20, "num_leaves": 8, "num_threads": 1}


class Process:
    """A platform role as a child process, its output in the data home."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], home: Path) -> None:
        self.log = home / f"{name}.log"
        self._handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]], env=env, stdout=self._handle, stderr=subprocess.STDOUT
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


def _wait_ready(client: httpx.Client, process: Process, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"{process.log.name} exited:\n{process.log.read_text()[-3000:]}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"not ready:\n{process.log.read_text()[-3000:]}")


def _post(client: httpx.Client, path: str, body: dict[str, Any], status: int = 201) -> Any:
    response = client.post(path, json=body)
    if response.status_code != status:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
    return response.json()


def ingest_retail(catalog: httpx.Client) -> str:
    from dsw_recipe.datasets import retail_training_path

    schema_id = _post(catalog, "/catalog/v1/schemas", RETAIL_SCHEMA)["id"]
    dataset_id = str(
        _post(catalog, "/catalog/v1/datasets", {"name": "retail", "schema_id": schema_id})["id"]
    )
    batch_id = _post(
        catalog,
        f"/catalog/v1/datasets/{dataset_id}/batches",
        {"format": "csv", "formats": {"_retail.date": "%m/%d/%y"}},
    )["id"]
    catalog.put(
        f"/catalog/v1/batches/{batch_id}/files/retail.csv",
        content=Path(retail_training_path()).read_bytes(),
    ).raise_for_status()
    _post(catalog, f"/catalog/v1/batches/{batch_id}/complete", {}, status=202)
    while (status := catalog.get(f"/catalog/v1/batches/{batch_id}").json()["status"]) not in (
        "success",
        "failed",
        "partial",
    ):
        time.sleep(0.1)
    if status != "success":
        raise RuntimeError(f"ingestion ended {status}")
    return dataset_id


def _wait_runs(training: httpx.Client, run_ids: list[str], timeout: float = 1800.0) -> None:
    pending = set(run_ids)
    deadline = time.monotonic() + timeout
    while pending:
        for run_id in list(pending):
            run = training.get(f"/training/v1/runs/{run_id}").json()
            if run["state"] == "succeeded":
                pending.discard(run_id)
            elif run["state"] in ("failed", "cancelled"):
                raise RuntimeError(f"run {run_id} {run['state']}: {run['error']}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs did not finish: {pending}")
        time.sleep(0.05)


def in_process_seconds(lake_files: list[str], repeats: int) -> list[float]:
    """prepare + split + train + evaluate of the same recipe on the same rows, in this process."""
    from dsw_recipe import RunContext, get_recipe

    from dsw_training.runs.child import read_snapshot

    recipe = get_recipe("retail-sales")()
    params = recipe.validate_params(OVERHEAD_PARAMS)
    table = read_snapshot(lake_files)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        ctx = RunContext()
        features = recipe.prepare(table, params, ctx)
        split = recipe.split(features, params, ctx)
        model = recipe.train(split.train, params, ctx)
        recipe.evaluate(model, split.holdout, params, ctx)
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queued", type=int, default=20)
    parser.add_argument("--small", action="store_true", help="2 repeats, 6 queued runs")
    parser.add_argument(
        "--idle-seconds", type=float, default=8.0, help="pause before each overhead run"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.small:
        args.repeats, args.queued = 2, 6
    work = Path(tempfile.mkdtemp(prefix="dsw-bench-training-", dir=args.workdir))
    home = work / "home"
    home.mkdir()
    broker = TansuBroker(log_path=work / "tansu.log").start()
    processes: list[Process] = []
    try:
        token = (
            Authenticator(AuthSettings(), home)
            .issuer()
            .issue("bench", ["catalog:admin", "training:admin", "recipes:admin"], org_id="bench")
        )
        catalog_port, training_port = free_port(), free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if not (key.startswith("DSW_") and key.endswith("_DATABASE_URL"))
        }
        env.update(
            DSW_HOME=str(home),
            DSW_KAFKA_BOOTSTRAP=broker.bootstrap,
            DSW_LOG_JSON="false",
            DSW_CATALOG_INGEST_POLL_SECONDS="0.2",
            DSW_TRAINING_EMBEDDED_WORKERS="false",
            DSW_TRAINING_CATALOG_URL=f"http://127.0.0.1:{catalog_port}",
            DSW_TRAINING_RUN_POLL_SECONDS="0.5",
            DSW_TRAINING_PROGRESS_WRITE_SECONDS="1.0",
        )
        headers = {"Authorization": f"Bearer {token}"}
        catalog_process = Process(
            "catalog", ["dsw-catalog", "api", "--port", str(catalog_port)], env, home
        )
        training_process = Process(
            "training", ["dsw-training", "api", "--port", str(training_port)], env, home
        )
        processes += [catalog_process, training_process]
        catalog = httpx.Client(
            base_url=f"http://127.0.0.1:{catalog_port}", headers=headers, timeout=120
        )
        training = httpx.Client(
            base_url=f"http://127.0.0.1:{training_port}", headers=headers, timeout=120
        )
        _wait_ready(catalog, catalog_process)
        _wait_ready(training, training_process)
        dataset_id = ingest_retail(catalog)
        files = [
            item["uri"] for item in catalog.get(f"/catalog/v1/datasets/{dataset_id}/files").json()
        ]

        def model(name: str, params: dict[str, Any]) -> str:
            body = {
                "name": name,
                "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
                "hyperparameters": params,
                "dataset_id": dataset_id,
            }
            return str(_post(training, "/training/v1/models", body)["id"])

        def start_workers(count: int) -> list[Process]:
            started = [
                Process(
                    f"worker-{len(processes) + i}", ["dsw-training", "worker", "runs"], env, home
                )
                for i in range(count)
            ]
            processes.extend(started)
            time.sleep(3.0)  # imports done, polling
            return started

        def stop(workers: list[Process]) -> None:
            for worker in workers:
                worker.stop()
                processes.remove(worker)

        # Overhead: one worker, one run at a time.
        overhead_model = model("overhead", OVERHEAD_PARAMS)
        workers = start_workers(1)
        api_seconds = []
        for index in range(args.repeats + 1):
            # A worker starts the next run's process (imports, MLflow store) when it is idle;
            # measure runs that arrive at a worker idle for a few seconds, as most do.
            time.sleep(args.idle_seconds)
            started = time.perf_counter()
            run = _post(training, f"/training/v1/models/{overhead_model}/runs", {}, status=202)
            _wait_runs(training, [run["id"]])
            elapsed = time.perf_counter() - started
            if index > 0:  # the first run also creates the MLflow store and experiment
                api_seconds.append(elapsed)
            print(f"run {index}: {elapsed:.2f} s through the API", flush=True)
        inproc = in_process_seconds(files, args.repeats)
        print("in-process:", ", ".join(f"{s:.2f}" for s in inproc), flush=True)

        # Throughput: queued small runs, one worker then two.
        small_model = model("throughput", SMALL_PARAMS)
        drained: dict[int, float] = {}
        for count in (1, 2):
            if count == 2:
                stop(workers)
                workers = start_workers(2)
            started = time.perf_counter()
            run_ids = [
                _post(training, f"/training/v1/models/{small_model}/runs", {}, status=202)["id"]
                for _ in range(args.queued)
            ]
            _wait_runs(training, run_ids)
            drained[count] = time.perf_counter() - started
            print(f"{args.queued} runs, {count} worker(s): {drained[count]:.1f} s", flush=True)
        stop(workers)

        api_median = statistics.median(api_seconds)
        inproc_median = statistics.median(inproc)
        summary = {
            "bench": "training",
            "repeats": args.repeats,
            "median_post_to_succeeded_s": round(api_median, 3),
            "median_in_process_s": round(inproc_median, 3),
            "median_overhead_s": round(api_median - inproc_median, 3),
            "ratio_vs_in_process": round(api_median / inproc_median, 2),
            "queued_runs": args.queued,
            "drain_s_1_worker": round(drained[1], 2),
            "drain_s_2_workers": round(drained[2], 2),
            "runs_per_min_1_worker": round(60 * args.queued / drained[1], 2),
            "runs_per_min_2_workers": round(60 * args.queued / drained[2], 2),
            "ratio_vs_1_worker": round(drained[1] / drained[2], 2),
        }
    finally:
        for process in processes:
            process.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"POST->succeeded median {summary['median_post_to_succeeded_s']} s vs in-process "
        f"{summary['median_in_process_s']} s: overhead {summary['median_overhead_s']} s",
        flush=True,
    )
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
