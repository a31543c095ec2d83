#!/usr/bin/env python3
"""Container health check of a service image (Docker ``HEALTHCHECK``, compose ``healthcheck``).

The image runs one role of its service. The ``api`` role is healthy when ``/healthz`` answers 200
on its port; the ``migrate``, ``relay`` and ``worker`` roles have no HTTP listener and are healthy
while their process runs. The role and port are read from the service's process command line
(``dsw-<service> api --port 8101``), the ``DSW_<SERVICE>_PORT`` variable or the service's default.
Standard library only: it runs in the image's virtual environment, which has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

DEFAULT_PORTS = {
    "catalog": 8101,
    "recipes": 8102,
    "training": 8103,
    "scoring": 8104,
    "serving": 8105,
    "console": 8106,
}
ROLES = {"api", "migrate", "relay", "worker", "revision"}


def service_command(cmdlines: Iterable[list[str]]) -> list[str] | None:
    """The argv of the service process (``dsw-<service>`` or ``dsw-service``) from its argv."""
    for argv in cmdlines:
        for index, arg in enumerate(argv[:3]):
            name = os.path.basename(arg)
            if name.startswith("dsw-") and name != "dsw-healthcheck":
                return [name, *argv[index + 1 :]]
    return None


def api_port(argv: list[str], service: str, environ: Mapping[str, str]) -> int:
    """The port the api role listens on: ``--port``, ``DSW_<SERVICE>_PORT`` or the default."""
    for index, arg in enumerate(argv):
        if arg == "--port" and index + 1 < len(argv):
            return int(argv[index + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    configured = environ.get(f"DSW_{service.upper()}_PORT")
    if configured:
        return int(configured)
    return DEFAULT_PORTS.get(service, 8000)


def check(argv: list[str] | None, environ: Mapping[str, str], timeout: float = 4.0) -> str | None:
    """None when healthy, else why not."""
    if argv is None:
        return "no dsw-<service> process is running"
    role = next((arg for arg in argv[1:] if arg in ROLES), None)
    if role != "api":
        return None
    service = environ.get("DSW_SERVICE") or argv[0].removeprefix("dsw-")
    url = f"http://127.0.0.1:{api_port(argv, service, environ)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as error:
        return f"{url}: {error}"


def running_commands(proc: Path = Path("/proc")) -> Iterable[list[str]]:
    """The argv of every process visible in ``proc``, lowest pid first."""
    pids = sorted(int(entry.name) for entry in proc.iterdir() if entry.name.isdigit())
    for pid in pids:
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            yield [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def main() -> int:
    problem = check(service_command(running_commands()), os.environ)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
