"""Start platform roles as real processes for tests, and read what they log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent


class ServiceProcess:
    """A service role (``dsw-<service> <role> ...``) running as a child process."""

    def __init__(self, service: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(BIN / f"dsw-{service}"), *args],
            env={**os.environ, **env},
            stdout=self._handle,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Everything the process has logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        """Wait until the log satisfies ``predicate``; the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if predicate(text):
                return text
            if self.process.poll() is not None:
                raise AssertionError(f"process exited ({self.process.returncode}):\n{text[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting on the log:\n{self.output()[-3000:]}")

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for the process to exit on its own; its exit code."""
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._handle.close()
        return self.process.returncode


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
