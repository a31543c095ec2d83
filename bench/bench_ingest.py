"""Benchmark: CSV ingestion through the catalog API vs bare pyarrow, and its memory use.

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--budget-mb 512] [--small]

Throughput: generates a ``--rows``-row CSV of the retail-sales shape and one of a flat
ExperienceEvent shape (dotted stored-form headers), starts a real catalog process (``dsw-catalog
api``, SQLite and the lake in a temporary data home, a Tansu broker of its own) and ingests each
file through the API: PUT the file (streamed), complete the batch, poll it until success. The
time of upload + complete + wait gives rows/s, compared with bare ``pyarrow.csv.read_csv`` +
``pyarrow.parquet.write_table`` (zstd, the lake's codec) of the same file in the same run.

Memory: generates a retail CSV about 4x ``--budget-mb`` and one a quarter of its size, ingests
each in a fresh catalog process and reports that process's peak resident set (``VmHWM``): it
should stay flat (not grow with the file) and within the budget.

``--small`` shrinks everything (a smoke test, seconds). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from dsw_kit.auth import Authenticator
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import AuthSettings
from dsw_kit.testing.samples import RETAIL_FORMATS, RETAIL_SCHEMA

BIN = Path(sys.executable).parent
FINAL = {"success", "partial", "failed", "aborted"}
_CHUNK = 1024 * 1024
_BLOCK_ROWS = 1_000_000  # the big memory files repeat a block of this many generated rows

# The retail-sales schema of the catalog's tests (services/catalog/tests/helpers.py).

_XDM = "https://ns.adobe.com/xdm/context"
EVENT_SCHEMA: dict[str, Any] = {
    "title": "Web shop events",
    "class": f"{_XDM}/experienceevent",
    "fieldGroups": [
        f"{_XDM}/experienceevent-commerce",
        f"{_XDM}/experienceevent-web",
        f"{_XDM}/experienceevent-environment-details",
    ],
}
_EVENT_TYPES = [
    "web.webpagedetails.pageViews",
    "commerce.productListAdds",
    "commerce.checkouts",
    "commerce.purchases",
]
_USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
]


# -- data ----------------------------------------------------------------------------------------


def retail_table(rows: int, seed: int = 7) -> pa.Table:
    """``rows`` rows of the retail-sales shape: 45 stores, weekly dates from 2/5/10."""
    rng = np.random.default_rng(seed)
    index = np.arange(rows)
    store = index % 45 + 1
    start = dt.date(2010, 2, 5)
    weeks = [start + dt.timedelta(weeks=w) for w in range(143)]
    date_text = np.array([f"{d.month}/{d.day}/{d.year % 100:02d}" for d in weeks])
    store_type = np.array(["A", "B", "C"])[store % 3]
    size = 30_000 + store * 4_500
    return pa.table(
        {
            "date": date_text[(index // 45) % len(weeks)],
            "store": store,
            "storeType": store_type,
            "weeklySales": np.round(rng.uniform(200_000, 3_000_000, rows), 2),
            "storeSize": size,
            "temperature": np.round(rng.uniform(-5, 100, rows), 2),
            "regionalFuelPrice": np.round(rng.uniform(2.4, 4.5, rows), 3),
            "markDown": np.where(rng.random(rows) < 0.6, 0.0, np.round(rng.uniform(0, 9e4, rows))),
            "cpi": np.round(rng.uniform(126, 228, rows), 7),
            "unemployment": np.round(rng.uniform(3.5, 14.5, rows), 3),
            "isHoliday": rng.random(rows) < 0.07,
        }
    )


def event_table(rows: int, seed: int = 11) -> pa.Table:
    """``rows`` ExperienceEvents with dotted stored-form columns (commerce, web, environment)."""
    rng = np.random.default_rng(seed)
    index = pa.array(np.arange(rows))
    kind = rng.integers(0, len(_EVENT_TYPES), rows)
    purchase = kind == 3
    page = pc.cast(pa.array(rng.integers(0, 1_000, rows)), pa.string())
    seconds = 1_704_067_200 + np.arange(rows) * 3 + rng.integers(0, 3, rows)
    timestamps = pa.array(seconds, pa.timestamp("s", tz="UTC"))
    prices = pa.array(np.round(rng.uniform(5, 900, rows), 2), mask=~purchase)
    return pa.table(
        {
            "_id": pc.binary_join_element_wise("evt-", pc.cast(index, pa.string()), ""),
            "timestamp": pc.strftime(timestamps, format="%Y-%m-%dT%H:%M:%SZ"),
            "eventType": pa.array(np.array(_EVENT_TYPES)[kind]),
            "producedBy": pa.array(np.full(rows, "self")),
            "web.webPageDetails.name": pc.binary_join_element_wise("page-", page, ""),
            "web.webPageDetails.URL": pc.binary_join_element_wise(
                "https://shop.example/p/", page, ""
            ),
            "web.webPageDetails.pageViews.value": pa.array(
                np.ones(rows), mask=np.asarray(kind != 0)
            ),
            "commerce.order.priceTotal": prices,
            # Always filled: an empty CSV cell of a string field is "", which the pattern refuses.
            "commerce.order.currencyCode": pa.array(np.full(rows, "USD")),
            "commerce.purchases.value": pa.array(np.ones(rows), mask=~purchase),
            "environment.type": pa.array(
                np.where(rng.random(rows) < 0.8, "browser", "application")
            ),
            "environment.browserDetails.userAgent": pa.array(
                np.array(_USER_AGENTS)[rng.integers(0, len(_USER_AGENTS), rows)]
            ),
            "environment.operatingSystem": pa.array(
                np.array(["Linux", "macOS", "Windows", "Android", "iOS"])[rng.integers(0, 5, rows)]
            ),
        }
    )


def write_csv(table: pa.Table, path: Path, repeats: int = 1) -> int:
    """Write ``table`` as CSV (header once, rows ``repeats`` times); the file's size."""
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    body = sink.getvalue()
    with path.open("wb") as out:
        out.write((",".join(table.column_names) + "\n").encode())
        for _ in range(repeats):
            out.write(body)
    return path.stat().st_size


# -- the bare baseline ---------------------------------------------------------------------------


def bare(path: Path, out: Path) -> tuple[int, float]:
    """``read_csv`` + ``write_table`` of ``path``: its rows and seconds."""
    started = time.perf_counter()
    table = pa_csv.read_csv(path)
    pq.write_table(table, out, compression="zstd")
    seconds = time.perf_counter() - started
    out.unlink()
    return table.num_rows, seconds


# -- a real catalog process ----------------------------------------------------------------------


def _peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


class Catalog:
    """``dsw-catalog api`` in a data home of its own, and a client with an admin token."""

    def __init__(self, home: Path, broker: TansuBroker, *, wait: bool = True) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
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
        )
        # Create the token (and with it the data home's secret) before the service reads it.
        token = (
            Authenticator(AuthSettings(), home)
            .issuer()
            .issue("bench", ["catalog:admin"], org_id="bench")
        )
        self.log = home / "catalog.log"
        self._log_handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "dsw-catalog"), "api", "--port", str(self.port)],
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(600.0, connect=5.0),
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the API answers ``/readyz``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the catalog exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the catalog is not ready:\n{self.log.read_text()[-3000:]}")

    def memory_mb(self) -> tuple[float, float]:
        """(peak, current) resident set of the catalog process in MiB."""
        return _peak_rss_mb(self.process.pid)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return dict(response.json())

    def dataset(self, name: str, schema: dict[str, Any]) -> str:
        """A new dataset of a new schema; its id."""
        schema_id = self._post("/catalog/v1/schemas", schema)["id"]
        return str(self._post("/catalog/v1/datasets", {"name": name, "schema_id": schema_id})["id"])

    def ingest(
        self, dataset_id: str, path: Path, formats: dict[str, str], timeout: float = 1800.0
    ) -> dict[str, Any]:
        """Upload ``path`` into a new batch, complete it, wait until it is final.

        The batch as the API returns it, plus ``upload_seconds`` and ``seconds`` (upload +
        complete + wait).
        """
        batch_id = self._post(
            f"/catalog/v1/datasets/{dataset_id}/batches", {"format": "csv", "formats": formats}
        )["id"]
        started = time.perf_counter()
        response = self.client.put(
            f"/catalog/v1/batches/{batch_id}/files/{path.name}",
            content=_chunks(path),
            headers={"Content-Length": str(path.stat().st_size)},
        )
        if response.status_code != 200:
            raise RuntimeError(f"upload: {response.status_code} {response.text}")
        uploaded = time.perf_counter()
        response = self.client.post(f"/catalog/v1/batches/{batch_id}/complete")
        if response.status_code != 202:
            raise RuntimeError(f"complete: {response.status_code} {response.text}")
        deadline = time.monotonic() + timeout
        while True:
            batch = dict(self.client.get(f"/catalog/v1/batches/{batch_id}").json())
            if batch["status"] in FINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} did not finish: {batch}")
            time.sleep(0.1)
        finished = time.perf_counter()
        if batch["status"] != "success":
            raise RuntimeError(f"batch {batch_id} ended {batch['status']}: {batch['error']}")
        batch["upload_seconds"] = uploaded - started
        batch["seconds"] = finished - started
        return batch

    def stop(self) -> None:
        """Stop the process; its data home is thrown away, so no long graceful shutdown."""
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_handle.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


# -- the benchmark -------------------------------------------------------------------------------


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else math.inf


def _mb(size: int) -> float:
    return round(size / 1024 / 1024, 1)


def throughput(work: Path, broker: TansuBroker, rows: int) -> dict[str, Any]:
    """Retail and event CSVs through the API and bare pyarrow; rows/s of each."""
    results: dict[str, Any] = {}
    files = {"retail": work / "retail.csv", "event": work / "events.csv"}
    write_csv(retail_table(rows), files["retail"])
    write_csv(event_table(rows), files["event"])
    with Catalog(work / "home-throughput", broker) as catalog:
        for shape, schema, formats in [
            ("retail", RETAIL_SCHEMA, RETAIL_FORMATS),
            ("event", EVENT_SCHEMA, {}),
        ]:
            path = files[shape]
            bare_rows, bare_seconds = bare(path, work / f"{shape}-bare.parquet")
            dataset_id = catalog.dataset(f"bench-{shape}", schema)
            batch = catalog.ingest(dataset_id, path, formats)
            if batch["rows_written"] != rows or bare_rows != rows:
                raise RuntimeError(f"{shape}: {batch['rows_written']} / {bare_rows} rows of {rows}")
            api_rate = _rate(rows, batch["seconds"])
            bare_rate = _rate(rows, bare_seconds)
            print(
                f"{shape}: {rows:,} rows, {_mb(path.stat().st_size)} MiB CSV | "
                f"API {batch['seconds']:.2f}s (upload {batch['upload_seconds']:.2f}s) "
                f"= {api_rate:,.0f} rows/s | bare pyarrow {bare_seconds:.2f}s "
                f"= {bare_rate:,.0f} rows/s | ratio {api_rate / bare_rate:.2f}",
                flush=True,
            )
            results[shape] = {"api": api_rate, "bare": bare_rate}
            path.unlink()
        peak, _ = catalog.memory_mb()
        results["peak_rss_mb_throughput"] = round(peak, 1)
    return results


def memory(
    work: Path, broker: TansuBroker, budget_mb: int, block_rows: int = _BLOCK_ROWS
) -> dict[str, Any]:
    """Peak RSS of a catalog process ingesting a file ~4x the budget, and one 1/4 of it."""
    block = retail_table(block_rows)
    probe = work / "block.csv"
    block_bytes = write_csv(block, probe)
    probe.unlink()
    rows_per_block = block.num_rows
    # Blocks of the quarter file; the big file is exactly four times it.
    quarter_repeats = max(1, math.ceil(budget_mb * 1024 * 1024 / block_bytes))
    results: dict[str, Any] = {}
    # Both processes start together (start-up is slow); each ingests one file, so each peak is
    # that file's alone.
    catalogs = {
        label: Catalog(work / f"home-memory-{label}", broker, wait=False)
        for label in ("small", "big")
    }
    try:
        for label, repeats in [("small", quarter_repeats), ("big", 4 * quarter_repeats)]:
            path = work / f"memory-{label}.csv"
            size = write_csv(block, path, repeats)
            rows = rows_per_block * repeats
            with catalogs[label] as catalog:
                catalog.wait_ready()
                idle, _ = catalog.memory_mb()
                dataset_id = catalog.dataset(f"bench-memory-{label}", RETAIL_SCHEMA)
                batch = catalog.ingest(dataset_id, path, RETAIL_FORMATS)
                peak, _ = catalog.memory_mb()
            path.unlink()
            if batch["rows_written"] != rows:
                raise RuntimeError(f"memory {label}: {batch['rows_written']} of {rows} rows")
            print(
                f"memory {label}: {_mb(size)} MiB CSV, {rows:,} rows in {batch['seconds']:.1f}s "
                f"({_rate(rows, batch['seconds']):,.0f} rows/s) | catalog process RSS: "
                f"{idle:.0f} MiB idle, peak {peak:.0f} MiB (budget {budget_mb} MiB)",
                flush=True,
            )
            results[label] = {"size_mb": _mb(size), "rows": rows, "peak": peak, "idle": idle}
    finally:
        for catalog in catalogs.values():
            catalog.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; return (and print last) the JSON summary."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each CSV")
    parser.add_argument(
        "--budget-mb", type=int, default=512, help="memory budget; the big file is ~4x it"
    )
    parser.add_argument("--small", action="store_true", help="a smoke test: tiny files")
    parser.add_argument("--workdir", type=Path, help="where to put files (default: a temp dir)")
    args = parser.parse_args(argv)
    rows, budget_mb = (20_000, 4) if args.small else (args.rows, args.budget_mb)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir))
    broker = TansuBroker(log_path=work / "tansu.log").start()
    try:
        speed = throughput(work, broker, rows)
        memory_use = memory(work, broker, budget_mb, min(rows, _BLOCK_ROWS))
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)

    small, big = memory_use["small"], memory_use["big"]
    summary = {
        "bench": "ingest",
        "rows": rows,
        "retail_rows_per_s": round(speed["retail"]["api"]),
        "bare_retail_rows_per_s": round(speed["retail"]["bare"]),
        "ratio_vs_bare": round(speed["retail"]["api"] / speed["retail"]["bare"], 2),
        "event_rows_per_s": round(speed["event"]["api"]),
        "bare_event_rows_per_s": round(speed["event"]["bare"]),
        "ratio_vs_bare_event": round(speed["event"]["api"] / speed["event"]["bare"], 2),
        "memory_budget_mb": budget_mb,
        "small_file_mb": small["size_mb"],
        "big_file_mb": big["size_mb"],
        "big_file_rows": big["rows"],
        "idle_rss_mb": round(big["idle"], 1),
        "peak_rss_mb_small": round(small["peak"], 1),
        "peak_rss_mb_big": round(big["peak"], 1),
        "within_budget": max(small["peak"], big["peak"]) <= budget_mb,
        "peak_rss_mb_throughput": speed["peak_rss_mb_throughput"],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
