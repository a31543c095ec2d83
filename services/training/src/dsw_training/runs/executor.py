"""Runs one attempt of a training run in a child process and watches it.

The child (``dsw_training.runs.child``) gets a scrubbed environment (no tokens, no database URLs),
its own process group, a memory limit it applies to itself and a wall-time limit enforced here.
It reports over a pipe; its output is the run's log. The worker polls for cancellation and kills
the whole process group when asked, or when the time is up.

Each child has its own folder, made when it starts (ahead of its job), and, with the sandbox on
(``dsw_kit.sandbox``), sees nothing else of the host but the Python install:

- ``work/``: its working folder, the only one it may write (home, temporary files, artifacts);
- ``package/``: the custom recipe's unpacked package (read-only; the worker unpacks it there);
- ``input/``: the run's own snapshot files (read-only; linked or copied here by the worker, so
  the child never needs the lake, let alone another tenant's part of it);
- ``run.log`` (its output) and ``uploads/``: the worker's, out of the child's sight.

The child has no access to MLflow either: the worker creates the run and writes to it what the
child reports (``tracking.py``). A child serves one run, then exits: never two tenants.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyarrow import fs

from dsw_kit.lake import Lake
from dsw_kit.sandbox import Sandbox, killed_by
from dsw_training.runs.tracking import RunTracker, TrackingRefused

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

    def __init__(self, *, env: dict[str, str], cwd: Path, sandbox: Sandbox) -> None:
        self.workdir = cwd / f"run-{secrets.token_hex(8)}"
        self.sandbox = sandbox
        for folder in (self.workdir, self.work, self.package, self.inputs, self.uploads):
            folder.mkdir(mode=0o700)
        self.log_file = self.workdir / "run.log"
        self._read_end, self._write_end = os.pipe()
        self._closed = False
        self._confinement = sandbox.confine(
            [sys.executable, "-m", "dsw_training.runs.child"],
            workdir=self.work,
            read_only=(self.package, self.inputs),
        )
        with self.log_file.open("ab") as log:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                self._confinement.command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.work,
                pass_fds=(self._write_end,),
                start_new_session=True,
            )
        os.close(self._write_end)

    @property
    def work(self) -> Path:
        """The child's working folder, the only one it may write."""
        return self.workdir / "work"

    @property
    def package(self) -> Path:
        """Where the worker unpacks a custom recipe's package (read-only for the child)."""
        return self.workdir / "package"

    @property
    def inputs(self) -> Path:
        """The run's snapshot files (read-only for the child)."""
        return self.workdir / "input"

    @property
    def uploads(self) -> Path:
        """The worker's copies of artifacts on their way to MLflow (out of the child's sight)."""
        return self.workdir / "uploads"

    @property
    def alive(self) -> bool:
        """Whether the process still waits for (or works on) its job."""
        return self.process.poll() is None

    def run(
        self,
        job: dict[str, Any],
        on_message: Callable[[dict[str, Any]], None],
        *,
        time_limit_seconds: float,
        cancelled: Callable[[], bool],
        on_tick: Callable[[], None] = lambda: None,
        poll_seconds: float = 1.0,
    ) -> ChildResult:
        """Start the run's MLflow run, hand the job over and follow the process to its end (or
        until cancelled or out of time); register the model when it succeeded."""
        try:
            input_paths = stage_inputs(job["files"], self.inputs)
            tracker = RunTracker(job, self.uploads)
        except BaseException:
            self.discard()
            raise
        on_message(
            {
                "kind": "started",
                "mlflow_run_id": tracker.run_id,
                "experiment_id": tracker.experiment_id,
            }
        )
        full_job = {
            **job,
            "message_fd": self._write_end,
            "workdir": str(self.work),
            "input_paths": input_paths,
            "mlflow_run_id": tracker.run_id,
            # In the sandbox the child's parent is bwrap, which dies with the worker itself.
            "parent_pid": None if self.sandbox.enabled else job.get("parent_pid"),
        }

        def relay(message: dict[str, Any]) -> None:
            if message["kind"] == "mlflow":
                tracker.log(message)
            elif message["kind"] == "artifacts":
                tracker.log_artifacts(message, self.work)
            else:
                on_message(message)

        result = self._follow(full_job, relay, time_limit_seconds, cancelled, on_tick, poll_seconds)
        return _conclude(tracker, result, self.log_file)

    def _follow(
        self,
        job: dict[str, Any],
        on_message: Callable[[dict[str, Any]], None],
        time_limit_seconds: float,
        cancelled: Callable[[], bool],
        on_tick: Callable[[], None],
        poll_seconds: float,
    ) -> ChildResult:
        read_end = self._read_end
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(job, default=str).encode())
            self.process.stdin.close()
        except BrokenPipeError:
            self._close_read_end()
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
        except TrackingRefused as error:
            self.kill()
            return ChildResult("failed", error=f"refused: {error}", exit_code=self._wait())
        finally:
            self._close_read_end()
        exit_code = self._wait()
        if final is not None and final["kind"] == "succeeded" and exit_code == 0:
            return ChildResult("succeeded", result=final, exit_code=exit_code)
        if final is not None and final["kind"] == "failed":
            return ChildResult("failed", error=str(final.get("error")), exit_code=exit_code)
        return ChildResult("failed", error=_death(exit_code), exit_code=exit_code)

    def discard(self) -> None:
        """Stop the process (a no-op once it ended) and remove its folder."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        self.kill()
        self._wait()
        self._close_read_end()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the child and anything it started."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _close_read_end(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._read_end)

    def _wait(self) -> int | None:
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait(5)
        self._confinement.release()
        return code


def stage_inputs(files: list[dict[str, Any]], folder: Path) -> list[str]:
    """Put the run's snapshot files in ``folder`` (the child's read-only ``input/``): hard links
    where the lake is a local folder on the same file system, else copies."""
    staged = []
    for index, item in enumerate(files):
        source = Lake(str(item["uri"]))
        target = folder / f"{index:05d}.parquet"
        if isinstance(source.filesystem, fs.LocalFileSystem):
            try:
                os.link(source.root, target)
            except OSError:
                shutil.copyfile(source.root, target)
        else:
            with (
                source.filesystem.open_input_stream(source.root) as stream,
                target.open("wb") as copy,
            ):
                shutil.copyfileobj(stream, copy)
        staged.append(str(target))
    return staged


def _conclude(tracker: RunTracker, result: ChildResult, log_file: Path) -> ChildResult:
    """Close the MLflow run; on success register the model and report what the worker records."""
    if result.outcome != "succeeded":
        tracker.finish("FAILED" if result.outcome == "failed" else "KILLED")
        return result
    try:
        version = tracker.register(str(result.result.get("model_uri")))
    except Exception as error:
        tracker.finish("FAILED")
        return ChildResult(
            "failed", error=f"registering the model failed: {error}", exit_code=result.exit_code
        )
    tracker.finish("FINISHED")
    with log_file.open("a") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(
            f"{stamp} INFO dsw.training.worker: registered {tracker.registered_model_name} "
            f"version {version}\n"
        )
    result.result.update(
        mlflow_run_id=tracker.run_id,
        experiment_id=tracker.experiment_id,
        registered_model=tracker.registered_model_name,
        model_version=version,
    )
    return result


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and "kind" in message else None


def _death(exit_code: int | None) -> str:
    killer = killed_by(exit_code)
    if killer is not None:
        hint = " (out of memory?)" if killer == signal.SIGKILL else ""
        return f"the training process was killed by {killer.name}{hint}"
    return f"the training process exited with code {exit_code} without a result"
