"""Benchmark: how long a `dsw` command takes, from the shell's point of view.

    .venv/bin/python bench/bench_cli.py [--repeat 5] [--timeout 240]

Starts the embedded platform (`dsw up`) in a temporary data home and configuration folder, on
free ports, then times from a folder outside the repository: `python -c pass` (the floor of any
Python command), `dsw --help`, and `dsw datasets list` against the running platform (it signs
its development token too; `list_request_s` is the HTTP request alone). Each figure is the median
of `--repeat` runs. Targets on the
reference machine (2 cores): help at most 0.5 s, list at most 1.5 s. The last line printed is one
JSON object: {"bench": "cli", "help_s", "list_s", "ratio_vs_python", ...}; `ratio_vs_python` is
the `python -c pass` time over the `dsw --help` time (1.0 would be as fast as Python starts).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dsw_kit.broker import free_port

BIN = Path(sys.executable).parent
SERVICES = ("catalog", "recipes", "training", "scoring", "serving")


def timed(command: list[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    """Median wall-clock seconds of ``command`` (each run must succeed)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, timeout=120)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"{command} failed: {result.stderr.decode()[-2000:]}")
    return statistics.median(times)


def _request_seconds(url: str, token: str) -> float:
    started = time.perf_counter()
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    response.raise_for_status()
    return time.perf_counter() - started


def start_platform(env: dict[str, str], log: Path, timeout: float) -> subprocess.Popen[bytes]:
    """`dsw up`, once every service is ready."""
    handle = open(log, "wb")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen([str(BIN / "dsw"), "up"], env=env, stdout=handle, stderr=handle)
    deadline = time.monotonic() + timeout
    while "The platform is ready" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"dsw up did not get ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--settle", type=float, default=10.0, help="Seconds after ready")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsw-bench-cli-") as scratch:
        root = Path(scratch)
        (root / "elsewhere").mkdir()
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(root / "config"),
            "DSW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "DSW_CONSOLE_PORT": str(free_port()),
        }
        env.pop("DSW_TOKEN", None)
        env.pop("DSW_URL", None)
        for service in SERVICES:
            env[f"DSW_{service.upper()}_PORT"] = str(free_port())
            env.pop(f"DSW_{service.upper()}_URL", None)
        # `dsw up` gets the data home; the commands find it through the pointer, like a user's.
        up_env = {**env, "DSW_HOME": str(root / "home")}
        env.pop("DSW_HOME", None)
        elsewhere = root / "elsewhere"
        python_s = timed([sys.executable, "-c", "pass"], env, elsewhere, args.repeat)
        help_s = timed([str(BIN / "dsw"), "--help"], env, elsewhere, args.repeat)
        print(f"python -c pass: {python_s:.3f} s, dsw --help: {help_s:.3f} s", flush=True)
        process = start_platform(up_env, root / "up.log", args.timeout)
        try:
            # As a user would: a moment after `dsw up` is ready, and once before timing (the
            # services' first request loads their query paths).
            time.sleep(args.settle)
            listing = [str(BIN / "dsw"), "datasets", "list"]
            timed(listing, env, elsewhere, 1)
            list_s = timed(listing, env, elsewhere, args.repeat)
            # The request alone, from this process: what the service takes of list_s.
            token = subprocess.run(
                [str(BIN / "dsw"), "token"], env=env, cwd=elsewhere, capture_output=True, text=True
            ).stdout.strip()
            url = f"http://127.0.0.1:{env['DSW_CATALOG_PORT']}/catalog/v1/datasets"
            request_s = statistics.median(_request_seconds(url, token) for _ in range(args.repeat))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
        print(
            f"dsw datasets list: {list_s:.3f} s (the request alone {request_s:.3f} s)", flush=True
        )
    summary = {
        "bench": "cli",
        "help_s": round(help_s, 3),
        "list_s": round(list_s, 3),
        "list_request_s": round(request_s, 3),
        "python_s": round(python_s, 3),
        "ratio_vs_python": round(python_s / help_s, 3),
        "repeat": args.repeat,
        "targets_met": help_s <= 0.5 and list_s <= 1.5,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
