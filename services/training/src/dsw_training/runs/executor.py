"""Runs one attempt of a training run in a child process and watches it.

The child (``dsw_training.runs.child``) gets a scrubbed environment (no tokens, no database URLs),
its own process group, a memory limit it applies to itself and a wall-time limit enforced here.
It reports over a pipe; its output is the run's log. The worker polls for cancellation and kills
the whole process group when asked, or when the time is up.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger("dsw.training.executor")

Outcome = Literal["succeeded", "failed", "cancelled", "timed_out"]


@dataclass
class ChildResult:
    """How the child process ended and what it reported."""

    outcome: Outcome
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None


def scrubbed_environment(
    passed: Iterable[str], *, threads: int, home: Path, source: dict[str, str] | None = None
) -> dict[str, str]:
    """Only the allowed variables (``NAME`` or ``PREFIX*``), thread limits and a private home."""
    source = dict(os.environ if source is None else source)
    patterns = list(passed)
    env = {
        name: value
        for name, value in source.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "OMP_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_TRACKING_INSECURE_TLS": source.get("MLFLOW_TRACKING_INSECURE_TLS", "false"),
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    return env


class ChildProcess:
    """One training process: started ahead of its job (imports done while the worker is idle),
    then handed a job, watched and, if need be, killed."""

    def __init__(self, *, env: dict[str, str], cwd: Path, tracking_uri: str | None = None) -> None:
        self._read_end, self._write_end = os.pipe()
        self.process: subprocess.Popen[bytes] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dsw_training.runs.child",
                *([tracking_uri] if tracking_uri else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            pass_fds=(self._write_end,),
            start_new_session=True,
        )
        os.close(self._write_end)

    @property
    def alive(self) -> bool:
        """Whether the process still waits for (or works on) its job."""
        return self.process.poll() is None

    def run(
        self,
        job: dict[str, Any],
        on_message: Callable[[dict[str, Any]], None],
        *,
        log_file: Path,
        workdir: Path,
        time_limit_seconds: float,
        cancelled: Callable[[], bool],
        on_tick: Callable[[], None] = lambda: None,
        poll_seconds: float = 1.0,
    ) -> ChildResult:
        """Hand the job over and follow the process to its end (or until cancelled or out of
        time)."""
        read_end = self._read_end
        full_job = {
            **job,
            "message_fd": self._write_end,
            "log_file": str(log_file),
            "workdir": str(workdir),
        }
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(full_job, default=str).encode())
            self.process.stdin.close()
        except BrokenPipeError:
            os.close(read_end)
            return ChildResult("failed", error=_death(self._wait()), exit_code=self.process.poll())
        deadline = time.monotonic() + time_limit_seconds
        next_poll = time.monotonic() + poll_seconds
        final: dict[str, Any] | None = None
        buffer = b""
        try:
            while True:
                ready, _, _ = select.select([read_end], [], [], 0.2)
                if ready:
                    chunk = os.read(read_end, 65536)
                    if not chunk:
                        break
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        message = _parse(line)
                        if message is None:
                            continue
                        if message["kind"] in ("succeeded", "failed"):
                            final = message
                        else:
                            on_message(message)
                    if final is not None:
                        break
                now = time.monotonic()
                if now >= deadline:
                    self.kill()
                    return ChildResult(
                        "timed_out",
                        error=f"the run took longer than {time_limit_seconds:g} s",
                        exit_code=self._wait(),
                    )
                if now >= next_poll:
                    next_poll = now + poll_seconds
                    on_tick()
                    if cancelled():
                        self.kill()
                        return ChildResult("cancelled", exit_code=self._wait())
        finally:
            os.close(read_end)
        exit_code = self._wait()
        if final is not None and final["kind"] == "succeeded" and exit_code == 0:
            return ChildResult("succeeded", result=final, exit_code=exit_code)
        if final is not None and final["kind"] == "failed":
            return ChildResult("failed", error=str(final.get("error")), exit_code=exit_code)
        return ChildResult("failed", error=_death(exit_code), exit_code=exit_code)

    def discard(self) -> None:
        """Stop a process that never got a job."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        self.kill()
        self._wait()
        with contextlib.suppress(OSError):
            os.close(self._read_end)

    def kill(self) -> None:
        """Kill the child and anything it started."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _wait(self) -> int | None:
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait(5)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and "kind" in message else None


def _death(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        name = signal.Signals(-exit_code).name
        hint = " (out of memory?)" if -exit_code == signal.SIGKILL else ""
        return f"the training process was killed by {name}{hint}"
    return f"the training process exited with code {exit_code} without a result"
