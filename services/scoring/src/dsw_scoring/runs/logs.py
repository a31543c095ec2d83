"""Run logs: a worker keeps an attempt's lines and copies them to the lake as it goes.

Each attempt has its own log, ``<lake>/<org>/<sandbox>/_scoring/runs/<run>/attempt-N.log``, so an
API on another machine than the worker can serve it.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque

from pyarrow import fs

from dsw_kit.db import Tenant, utcnow
from dsw_kit.lake import Lake

logger = logging.getLogger("dsw.scoring.logs")

# Lines a worker keeps of one attempt (the start and the end of a long run matter most).
MAX_LINES = 2000


def run_folder(lake: Lake, tenant: Tenant, run_id: uuid.UUID) -> str:
    """The lake folder of a run's logs and outputs."""
    return lake.path(tenant, "_scoring", "runs", str(run_id))


def log_path(lake: Lake, tenant: Tenant, run_id: uuid.UUID, attempt: int) -> str:
    """The lake path of one attempt's log."""
    return f"{run_folder(lake, tenant, run_id)}/attempt-{attempt}.log"


class RunLog:
    """The log of one attempt: kept in memory (bounded), written whole to the lake on flush."""

    def __init__(self, lake: Lake, path: str) -> None:
        self.lake = lake
        self.path = path
        self.lines: deque[str] = deque(maxlen=MAX_LINES)

    def write(self, message: str) -> None:
        self.lines.append(f"{utcnow().isoformat(timespec='milliseconds')} {message}")

    def flush(self) -> None:
        """Copy the log to the lake (best effort: a log must never fail a run)."""
        try:
            self.lake.make_dirs(self.path.rsplit("/", 1)[0])
            with self.lake.filesystem.open_output_stream(self.path) as sink:
                sink.write(("\n".join(self.lines) + "\n").encode())
        except OSError:
            logger.warning("could not write the log %s", self.path, exc_info=True)


def read_tail(lake: Lake, path: str, lines: int) -> tuple[list[str], bool] | None:
    """The last ``lines`` lines of a log and whether earlier ones were left out; None if the log
    does not exist (yet)."""
    if lake.filesystem.get_file_info(path).type == fs.FileType.NotFound:
        return None
    with lake.filesystem.open_input_file(path) as source:
        text = source.read().decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    return all_lines[-lines:], len(all_lines) > lines
