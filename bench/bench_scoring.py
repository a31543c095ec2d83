"""Benchmark: batch scoring through the scoring service vs the bare booster and MLflow's pyfunc.

    .venv/bin/python bench/bench_scoring.py [--sizes 2000000,8000000] [--small]

Sizes also come from ``DSW_BENCH_SCORING_SIZES`` (comma-separated row counts); the first size is
the throughput comparison, every size gets a peak-RSS figure for the worker.

Starts a Tansu broker and real processes in a temporary data home: ``dsw-catalog api``,
``dsw-training api`` (with its worker), ``dsw-scoring api`` (workers off) and one
``dsw-scoring worker runs``. Ingests the retail sample, trains a ``retail-sales`` model (a real
training run, registered in MLflow), generates a retail-shaped Parquet file of the first size and
ingests it as the input dataset.

Side by side, on the same model and the same input files (the catalog's Parquet files):

(a) the service: wall time from ``POST /scoring/v1/runs`` to ``succeeded`` (resolving the model,
    validating, streaming chunks through the booster fast path, writing Parquet, and the catalog
    ingesting the output as one batch with statistics);
(b) bare streaming: pyarrow batches -> NumPy columns -> the model's feature builder ->
    ``booster.predict`` -> ``ParquetWriter`` (same chunk size, one LightGBM thread as the worker);
(c) MLflow: ``mlflow.pyfunc.load_model(uri).predict(pandas frame)`` + ``pandas.to_parquet``.

The three run in turns, ``--repeats`` rounds (default 2), and each keeps its best time: the
machine may be shared. Peak RSS (``VmHWM``) of a fresh worker process after scoring each size
(the bigger sizes repeat the first file as more batches of the same dataset): it should stay
about the same.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsw_kit.auth import Authenticator
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import AuthSettings
from dsw_kit.testing.samples import RETAIL_SCHEMA

BIN = Path(sys.executable).parent
CHUNK_ROWS = 262_144
FINAL = {"succeeded", "failed", "cancelled"}
PARAMS = {"n_estimators": 100, "num_leaves": 31, "num_threads": 1}


class Process:
    """A platform role as a child process, its output in the data home."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], home: Path) -> None:
        self.log = home / f"{name}.log"
        self._handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]], env=env, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key == "VmHWM":
                return int(rest.split()[0]) / 1024
        raise RuntimeError("no VmHWM")

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
        with contextlib.suppress(httpx.TransportError):  # not listening yet: ask again
            if client.get("/readyz").status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"not ready:\n{process.log.read_text()[-3000:]}")


def _wait_log(process: Process, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.log.read_text(errors="replace"):
        if process.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"{process.log.name}: no {text!r}:\n{process.log.read_text()[-3000:]}"
            )
        time.sleep(0.2)
    time.sleep(1.0)  # the consumer joins its group and the worker polls


def _call(client: httpx.Client, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code != status:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
    return response.json()


def _wait(client: httpx.Client, path: str, key: str, final: set[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = client.get(path).json()
        if item[key] in final:
            return item
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not finish")


def ingest(catalog: httpx.Client, dataset_id: str, name: str, path: Path, fmt: str) -> None:
    """One batch of ``path`` into the dataset, waited for."""
    body: dict[str, Any] = {"format": fmt}
    if fmt == "csv":
        body["formats"] = {"_retail.date": "%m/%d/%y"}
    batch = _call(catalog, "POST", f"/catalog/v1/datasets/{dataset_id}/batches", 201, json=body)

    def chunks() -> Any:
        with path.open("rb") as handle:
            while chunk := handle.read(4 * 1024 * 1024):
                yield chunk

    _call(catalog, "PUT", f"/catalog/v1/batches/{batch['id']}/files/{name}", 200, content=chunks())
    _call(catalog, "POST", f"/catalog/v1/batches/{batch['id']}/complete", 202)
    done = _wait(
        catalog, f"/catalog/v1/batches/{batch['id']}", "status", {"success", "failed"}, 1800
    )
    if done["status"] != "success":
        raise RuntimeError(f"ingestion of {name} ended {done['status']}: {done.get('error')}")


def new_dataset(catalog: httpx.Client, name: str) -> str:
    schema = _call(catalog, "POST", "/catalog/v1/schemas", 201, json=RETAIL_SCHEMA)
    body = {"name": name, "schema_id": schema["id"]}
    return str(_call(catalog, "POST", "/catalog/v1/datasets", 201, json=body)["id"])


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A retail-shaped Parquet file (flat dotted columns, as the catalog exports them)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2010-02-05", "D")
    weeks = rng.integers(0, 143, rows)
    stores = rng.integers(1, 46, rows)
    table = pa.table(
        {
            "_retail.date": pa.array(start + weeks * 7, pa.date32()),
            "_retail.store": pa.array(stores, pa.int64()),
            "_retail.storeType": pa.array(np.array(["A", "B", "C"])[stores % 3]),
            "_retail.weeklySales": pa.array(rng.gamma(2.0, 10_000.0, rows)),
            "_retail.storeSize": pa.array(30_000 + stores * 3_000, pa.int64()),
            "_retail.temperature": pa.array(rng.normal(60, 18, rows)),
            "_retail.regionalFuelPrice": pa.array(rng.uniform(2.5, 4.5, rows)),
            "_retail.markDown": pa.array(rng.uniform(0, 10_000, rows)),
            "_retail.cpi": pa.array(rng.uniform(126, 228, rows)),
            "_retail.unemployment": pa.array(rng.uniform(3, 14, rows)),
            "_retail.isHoliday": pa.array(weeks % 13 == 0),
        }
    )
    pq.write_table(table, path, row_group_size=CHUNK_ROWS)


def _lake_path(uri: str) -> str:
    return uri.removeprefix("file://")


def _flat(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def bare(model_dir: Path, files: list[str], out: Path) -> float:
    """(b) pyarrow batches -> NumPy -> feature builder -> booster.predict -> ParquetWriter."""
    from dsw_recipe import load_model

    started = time.perf_counter()
    fast = load_model(model_dir).fast_path
    assert fast is not None
    names = [field.name for field in fast.inputs]
    column_of = {name: f"_retail.{'markDown' if name == 'markdown' else name}" for name in names}
    schema = pa.schema([("date", pa.date32()), ("store", pa.int64()), ("prediction", pa.float64())])
    with pq.ParquetWriter(out, schema) as writer:
        for uri in files:
            parquet = pq.ParquetFile(_lake_path(uri))
            for batch in parquet.iter_batches(
                batch_size=CHUNK_ROWS, columns=list(column_of.values())
            ):
                flat = _flat(pa.Table.from_batches([batch]))
                columns = {
                    name: flat[column].to_numpy(zero_copy_only=False)
                    for name, column in column_of.items()
                }
                matrix = fast.build_features(columns)
                predicted = fast.postprocess(
                    np.asarray(fast.booster.predict(matrix, num_threads=1))
                )
                writer.write_table(
                    pa.table(
                        {
                            "date": flat[column_of["date"]],
                            "store": flat[column_of["store"]],
                            "prediction": pa.array(predicted, pa.float64()),
                        },
                        schema=schema,
                    )
                )
    return time.perf_counter() - started


def with_mlflow(model_dir: Path, files: list[str], out: Path) -> float:
    """(c) mlflow.pyfunc.load_model(...).predict(pandas frame) + to_parquet."""
    import warnings

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(str(model_dir))
    table = _flat(pa.concat_tables([pq.read_table(_lake_path(uri)) for uri in files]))
    frame = table.rename_columns([name.split(".", 1)[-1] for name in table.column_names])
    frame = frame.rename_columns(["markdown" if n == "markDown" else n for n in frame.column_names])
    predicted = model.predict(frame.to_pandas())
    predicted.to_parquet(out)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_sizes = os.environ.get("DSW_BENCH_SCORING_SIZES", "2000000,8000000")
    parser.add_argument("--sizes", default=default_sizes, help="row counts, comma-separated")
    parser.add_argument("--small", action="store_true", help="20,000 and 80,000 rows")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (a), (b), (c); best kept")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [20_000, 80_000] if args.small else [int(size) for size in args.sizes.split(",")]
    base = sizes[0]
    if any(size % base for size in sizes):
        parser.error("every size must be a multiple of the first (more batches of the same file)")
    work = Path(tempfile.mkdtemp(prefix="dsw-bench-scoring-", dir=args.workdir))
    home = work / "home"
    home.mkdir()
    broker = TansuBroker(log_path=work / "tansu.log").start()
    processes: list[Process] = []
    try:
        token = (
            Authenticator(AuthSettings(), home)
            .issuer()
            .issue("bench", ["catalog:admin", "training:admin", "scoring:admin"], org_id="bench")
        )
        ports = {name: free_port() for name in ("catalog", "training", "scoring")}
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
            DSW_CATALOG_INGEST_POLL_SECONDS="0.1",
            DSW_TRAINING_CATALOG_URL=url["catalog"],
            DSW_TRAINING_RUN_POLL_SECONDS="0.5",
            DSW_SCORING_CATALOG_URL=url["catalog"],
            DSW_SCORING_TRAINING_URL=url["training"],
            DSW_SCORING_EMBEDDED_WORKERS="false",
            DSW_SCORING_RUN_POLL_SECONDS="0.5",
            DSW_SCORING_REGISTER_POLL_SECONDS="0.05",
            DSW_SCORING_CHUNK_ROWS=str(CHUNK_ROWS),
        )
        headers = {"Authorization": f"Bearer {token}"}
        clients = {
            name: httpx.Client(base_url=url[name], headers=headers, timeout=600) for name in url
        }
        for name in ("catalog", "training", "scoring"):
            process = Process(name, [f"dsw-{name}", "api", "--port", str(ports[name])], env, home)
            processes.append(process)
            _wait_ready(clients[name], process)
        catalog, training, scoring = clients["catalog"], clients["training"], clients["scoring"]

        from dsw_recipe.datasets import retail_training_path

        sample_id = new_dataset(catalog, "retail-sample")
        ingest(catalog, sample_id, "retail.csv", Path(retail_training_path()), "csv")
        model_body = {
            "name": "retail-bench",
            "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
            "hyperparameters": PARAMS,
            "dataset_id": sample_id,
        }
        model = _call(training, "POST", "/training/v1/models", 201, json=model_body)
        run = _call(training, "POST", f"/training/v1/models/{model['id']}/runs", 202, json={})
        run = _wait(training, f"/training/v1/runs/{run['id']}", "state", FINAL, 600)
        if run["state"] != "succeeded":
            raise RuntimeError(f"training {run['state']}: {run.get('error')}")
        print(f"trained {run['mlflow']['model_uri']}", flush=True)

        parquet = work / "input.parquet"
        generate(parquet, base)
        input_id = new_dataset(catalog, "retail-big")
        started = time.perf_counter()
        ingest(catalog, input_id, "part-0.parquet", parquet, "parquet")
        print(f"ingested {base:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        files = [
            item["uri"] for item in catalog.get(f"/catalog/v1/datasets/{input_id}/files").json()
        ]

        def score(rows: int) -> tuple[float, float, dict[str, Any]]:
            worker = Process(f"worker-{rows}", ["dsw-scoring", "worker", "runs"], env, home)
            processes.append(worker)
            _wait_log(worker, "scoring imports ready")
            body = {
                "model": {"training_run_id": run["id"]},
                "input_dataset_id": input_id,
                "output": {"name": f"predictions-{rows}-{time.monotonic_ns()}"},
            }
            started = time.perf_counter()
            created = _call(scoring, "POST", "/scoring/v1/runs", 202, json=body)
            done = _wait(scoring, f"/scoring/v1/runs/{created['id']}", "state", FINAL, 3600)
            seconds = time.perf_counter() - started
            if done["state"] != "succeeded":
                raise RuntimeError(f"scoring {done['state']}: {done.get('error')}")
            if done["progress"]["rows_scored"] != rows:
                raise RuntimeError(f"scored {done['progress']['rows_scored']} of {rows} rows")
            peak = worker.peak_rss_mb()
            worker.stop()
            processes.remove(worker)
            return seconds, peak, done

        import mlflow.artifacts

        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=run["mlflow"]["model_uri"],
                tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                dst_path=str(work / "model"),
            )
        )
        # The machine is shared: run the three paths in turns, ``--repeats`` times, and keep each
        # one's best time, so that a burst of someone else's load does not decide the ratios.
        timings: dict[str, list[float]] = {"service": [], "bare": [], "mlflow": []}
        peak_first = 0.0
        for repeat in range(args.repeats):
            seconds, peak, _ = score(base)
            timings["service"].append(seconds)
            peak_first = max(peak_first, peak)
            timings["bare"].append(bare(model_dir, files, work / "bare.parquet"))
            timings["mlflow"].append(with_mlflow(model_dir, files, work / "mlflow.parquet"))
            print(
                f"round {repeat + 1}: (a) service {timings['service'][-1]:.2f} s, "
                f"(b) bare {timings['bare'][-1]:.2f} s, (c) mlflow {timings['mlflow'][-1]:.2f} s, "
                f"worker peak RSS {peak:.0f} MiB",
                flush=True,
            )
        service_s, bare_s, mlflow_s = (min(timings[key]) for key in ("service", "bare", "mlflow"))

        peaks = {base: peak_first}
        seconds_by_size = {base: service_s}
        batches = 1
        for size in sizes[1:]:
            while batches * base < size:
                ingest(catalog, input_id, f"part-{batches}.parquet", parquet, "parquet")
                batches += 1
            seconds_by_size[size], peaks[size], _ = score(size)
            print(
                f"(a) service at {size:,} rows: {seconds_by_size[size]:.2f} s, "
                f"worker peak RSS {peaks[size]:.0f} MiB",
                flush=True,
            )

        rates = {"service": base / service_s, "bare": base / bare_s, "mlflow": base / mlflow_s}
        print(f"\n{'path':<28}{'seconds':>10}{'rows/s':>14}")
        for label, seconds in (
            ("(a) scoring service", service_s),
            ("(b) bare booster stream", bare_s),
            ("(c) mlflow pyfunc", mlflow_s),
        ):
            print(f"{label:<28}{seconds:>10.2f}{base / seconds:>14,.0f}")
        print(
            f"a/b = {rates['service'] / rates['bare']:.2f} (target >= 0.85); "
            f"a/c = {rates['service'] / rates['mlflow']:.2f} (target >= 5)"
        )
        for size, peak in peaks.items():
            print(f"worker peak RSS at {size:,} rows: {peak:.0f} MiB")
        summary: dict[str, Any] = {
            "bench": "scoring",
            "rows": base,
            "rows_per_s": round(rates["service"]),
            "bare_rows_per_s": round(rates["bare"]),
            "mlflow_rows_per_s": round(rates["mlflow"]),
            "ratio_vs_bare": round(rates["service"] / rates["bare"], 3),
            "ratio_vs_mlflow": round(rates["service"] / rates["mlflow"], 3),
        }
        for size, peak in peaks.items():
            label = f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)
            summary[f"peak_rss_mb_{label}"] = round(peak)
            summary[f"rows_per_s_{label}"] = round(size / seconds_by_size[size])
        print(json.dumps(summary), flush=True)
        return summary
    finally:
        for process in reversed(processes):
            process.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
