"""Real processes for scoring tests: ``dsw-scoring worker runs``, and an app served over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from dsw_kit.broker import free_port

BIN = Path(sys.executable).parent


class WorkerProcess:
    """``dsw-scoring worker runs`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "dsw-scoring"), "worker", "runs"],
            env={**os.environ, **env},
            stdout=self._handle,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to hand its run back."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._handle.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait until the worker has imported what scoring needs (MLflow, the recipes)."""
        deadline = time.monotonic() + timeout
        while "scoring imports ready" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker is not ready:\n{self.output()[-3000:]}")
            time.sleep(0.2)


class ServedApp:
    """An already started ASGI app (a ``TestClient``'s) also served over HTTP, in a thread.

    The lifespan is off: the app's workers and relay already run in the test process.
    """

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def owner_pid(lease_owner: str) -> int:
    """The process id in a lease owner (``worker_identity``: ``<role>@<host>:<pid>:<random>``)."""
    return int(lease_owner.rsplit(":", 2)[1])
