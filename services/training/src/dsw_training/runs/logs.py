"""Run logs: the training process writes to a local file, the worker copies it to the lake.

Each attempt of a run has its own log in the lake,
``<lake>/<org>/<sandbox>/_training/runs/<run>/attempt-N.log``, so an API on another machine than
the worker can serve it.
"""

from __future__ import annotations

import uuid
from collections import deque
from pathlib import Path

from pyarrow import fs

from dsw_kit.db import Tenant
from dsw_kit.lake import Lake

# The API never reads more than this from the end of a log.
MAX_TAIL_BYTES = 1024 * 1024


def log_path(lake: Lake, tenant: Tenant, run_id: uuid.UUID, attempt: int) -> str:
    """The lake path of one attempt's log."""
    return lake.path(tenant, "_training", "runs", str(run_id), f"attempt-{attempt}.log")


def upload_log(lake: Lake, local: Path, destination: str) -> None:
    """Copy the local log to the lake (whole file: object stores cannot append)."""
    if not local.exists():
        return
    lake.make_dirs(destination.rsplit("/", 1)[0])
    with lake.filesystem.open_output_stream(destination) as sink:
        sink.write(local.read_bytes())


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a local file."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - MAX_TAIL_BYTES))
        text = handle.read().decode("utf-8", errors="replace")
    return list(deque(text.splitlines(), maxlen=lines))


def read_tail(lake: Lake, path: str, lines: int) -> tuple[list[str], bool] | None:
    """The last ``lines`` lines of a log in the lake and whether earlier ones were left out;
    None if the log does not exist (yet)."""
    info = lake.filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        return None
    size = info.size or 0
    start = max(0, size - MAX_TAIL_BYTES)
    with lake.filesystem.open_input_file(path) as source:
        source.seek(start)
        text = source.read().decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    if start > 0 and all_lines:
        all_lines = all_lines[1:]  # the first line was cut in the middle
    return all_lines[-lines:], start > 0 or len(all_lines) > lines
