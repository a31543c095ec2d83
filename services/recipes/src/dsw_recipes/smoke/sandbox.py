"""Starting a smoke run's child process: scrubbed environment, time and memory limits, and (when
the host allows) the bwrap sandbox of ``dsw_kit.sandbox``: no network, nothing of the host's
files but the Python install and the run's own folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dsw_kit.sandbox import Sandbox, killed_by

#: The only variables a child inherits; nothing named DSW_*, no cloud or database credentials.
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class SmokeLimits:
    """What a child may use."""

    timeout_seconds: float
    memory_bytes: int
    output_lines: int


@dataclass
class SmokeOutcome:
    """What a smoke run concluded."""

    ok: bool
    mode: str | None = None
    error: str | None = None
    output: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)


def child_environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no platform secrets, home and temp inside the run's folder."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(
        {
            "HOME": str(workdir),
            "TMPDIR": str(tmp),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
        }
    )
    env.setdefault("LANG", "C.UTF-8")
    return env


def run_child(
    request: dict[str, Any], workdir: Path, limits: SmokeLimits, *, sandbox: Sandbox
) -> SmokeOutcome:
    """Run the recipe in a child process (its own session, killed as a group on timeout), in
    ``sandbox`` with ``workdir`` (holding the unpacked package) as its only folder."""
    request_path = workdir / "request.json"
    result_path = workdir / "result.json"
    log_path = workdir / "output.log"
    request_path.write_text(json.dumps(request))
    command = [
        sys.executable,
        "-I",  # isolated: no PYTHON* variables, no user site, no cwd on sys.path
        "-m",
        "dsw_recipes.smoke.child",
        str(request_path),
        str(result_path),
        str(limits.memory_bytes),
        str(int(limits.timeout_seconds) + 5),
    ]
    confinement = sandbox.confine(command, workdir=workdir)
    try:
        with log_path.open("wb") as log:
            returncode = _run(confinement.command, workdir, log, limits.timeout_seconds)
    finally:
        confinement.release()
    output = _tail(log_path, limits.output_lines)
    if returncode is None:
        return SmokeOutcome(
            ok=False,
            error=f"the smoke run exceeded its time limit of {limits.timeout_seconds:g} s",
            output=output,
        )
    return _outcome(result_path, returncode, output)


def _run(command: list[str], workdir: Path, log: IO[bytes], timeout: float) -> int | None:
    """The child's exit status, or None when it ran out of time (and was killed)."""
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=child_environment(workdir),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return None


def _outcome(result_path: Path, returncode: int, output: str) -> SmokeOutcome:
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return SmokeOutcome(ok=False, error=_exit_reason(returncode), output=output)
    if not isinstance(result, dict):
        return SmokeOutcome(ok=False, error="the smoke run wrote an invalid result", output=output)
    if not result.get("ok"):
        return SmokeOutcome(ok=False, error=str(result.get("error")), output=output)
    return SmokeOutcome(
        ok=True,
        mode=str(result.get("mode")),
        output=output,
        metrics=dict(result.get("metrics") or {}),
        describe=dict(result.get("describe") or {}),
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _exit_reason(returncode: int) -> str:
    killer = killed_by(returncode)
    if killer is not None:
        name = killer.name
        hint = " (CPU time limit)" if name == "SIGXCPU" else ""
        return f"the smoke run was killed by {name}{hint}"
    return f"the smoke run exited with status {returncode} without a result"


def _tail(path: Path, lines: int) -> str:
    kept: deque[str] = deque(maxlen=lines)
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            kept.append(line.rstrip("\n")[:500])
    return "\n".join(kept)
