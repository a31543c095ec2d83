"""The MLflow run of one training attempt, written by the worker on the training process's behalf.

The training process runs recipe code, so it never touches the tracking store itself: in the
sandbox it has no network (no tracking server) and no files of the data home (no SQLite store,
no artifact folder of other tenants). Its ``RunContext`` sends what it logs to the worker as
messages instead (``mlflow``: parameters, metrics, tags; ``artifacts``: a folder it wrote in its
work folder), and the worker, which owns the run, writes them to MLflow, checked: no platform tag
overwritten, no symbolic link or special file uploaded (a link would point at the worker's
files, not the sandbox's). The worker also creates the run, closes a dead attempt's run and
registers the model version once the run succeeded.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

logger = logging.getLogger("dsw.training.tracking")

_KEY = re.compile(r"^[A-Za-z0-9_.\- /:]{1,250}$")
_ARTIFACT_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
_MAX_ITEMS = 1000


class TrackingRefused(ValueError):
    """The training process asked to log something the worker does not write."""


def run_tags(job: dict[str, Any]) -> dict[str, str]:
    """The platform's tags on the MLflow run (recipe code cannot overwrite them)."""
    batch_ids = sorted({str(item["batch_id"]) for item in job["files"]})
    return {
        "dsw.run_id": job["run_id"],
        "dsw.model_id": job["model_id"],
        "dsw.dataset_id": job["dataset_id"],
        "dsw.dataset.batch_ids": ",".join(batch_ids)[:5000],
        "dsw.attempt": str(job["attempt"]),
        "dsw.recipe_id": job["recipe_id"],
        "dsw.version_id": job["version_id"],
    }


class RunTracker:
    """Creates the attempt's MLflow run and writes what the training process reports to it."""

    def __init__(self, job: dict[str, Any], uploads: Path) -> None:
        from dsw_recipe import RunContext

        self.tags = run_tags(job)
        self.tracking_uri = str(job["tracking_uri"])
        self.registered_model_name = str(job["registered_model_name"])
        self.uploads = uploads
        self._context = RunContext(
            tracking_uri=self.tracking_uri,
            experiment_name=job["experiment_name"],
            run_name=f"run-{job['run_id'][:8]}-attempt-{job['attempt']}",
            tags=self.tags,
        )
        self.run_id = self._start()
        self.client: MlflowClient = self._context.client
        self.experiment_id = str(self.client.get_run(self.run_id).info.experiment_id)
        _finish_stale_run(self.client, job.get("stale_mlflow_run_id"))

    def _start(self) -> str:
        # The first runs against a new SQLite store create its tables, and two runs of a new
        # model may create its experiment at once: one process at a time, and retry a lost race.
        for attempt in range(5):
            try:
                with store_lock(self.tracking_uri):
                    return str(self._context.start())
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise RuntimeError("unreachable")

    def log(self, message: dict[str, Any]) -> None:
        """Write one ``mlflow`` message (parameters, metrics, tags) to the run."""
        from mlflow.entities import Metric, Param, RunTag

        params = [Param(key, _text(value)) for key, value in _pairs(message, "params")]
        metrics = [
            Metric(key, value, timestamp, step) for key, value, timestamp, step in _metrics(message)
        ]
        tags = []
        for key, value in _pairs(message, "tags"):
            if key in self.tags or key.startswith("mlflow."):
                raise TrackingRefused(f"recipe code may not set the tag {key!r}")
            tags.append(RunTag(key, _text(value)))
        if params or metrics or tags:
            self.client.log_batch(self.run_id, metrics=metrics, params=params, tags=tags)

    def log_artifacts(self, message: dict[str, Any], workdir: Path) -> None:
        """Upload the folder an ``artifacts`` message names (``<workdir>/artifacts/<n>``) after
        copying its regular files out of the training process's reach."""
        folder = str(message.get("folder", ""))
        if not folder.isdigit():
            raise TrackingRefused(f"invalid artifact folder {folder!r}")
        artifact_path = message.get("artifact_path")
        if artifact_path is not None and not _ARTIFACT_PATH.match(str(artifact_path)):
            raise TrackingRefused(f"invalid artifact path {artifact_path!r}")
        copy = self.uploads / folder
        try:
            copy_regular_files(workdir, f"artifacts/{folder}", copy)
            self.client.log_artifacts(self.run_id, str(copy), artifact_path)
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    def register(self, model_uri: str) -> str:
        """Register the run's model as a new version of the model's registered model."""
        from mlflow.exceptions import MlflowException

        if not model_uri.startswith(f"runs:/{self.run_id}/"):
            raise TrackingRefused(f"the model {model_uri!r} is not an artifact of this run")
        try:
            self.client.create_registered_model(
                self.registered_model_name, tags={"dsw.model_id": self.tags["dsw.model_id"]}
            )
        except MlflowException as error:
            if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            self.registered_model_name, model_uri, run_id=self.run_id, tags=self.tags
        )
        return str(version.version)

    def finish(self, status: str) -> None:
        """Close the run (FINISHED, FAILED or KILLED); best effort."""
        try:
            self.client.set_terminated(self.run_id, status=status)
        except Exception:
            logger.warning("could not close the MLflow run %s", self.run_id, exc_info=True)


def copy_regular_files(workdir: Path, folder: str, target: Path) -> None:
    """Copy ``<workdir>/<folder>`` to ``target``: directories and regular files only.

    Everything under ``workdir`` belongs to recipe code that may still be running, and a link in
    it would point at the worker's files: the walk starts from a descriptor of ``workdir`` (the
    worker's own folder), never follows a link (``fwalk`` with directory descriptors, files
    opened with ``O_NOFOLLOW``), so a link, even one swapped in meanwhile, fails the copy.
    """
    target.mkdir(parents=True)
    top, _, leaf = folder.rpartition("/")
    root = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parent = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root)
    except OSError as error:
        os.close(root)
        raise TrackingRefused(f"artifact folder {top} cannot be read safely: {error}") from error
    try:
        walk = os.fwalk(leaf, dir_fd=parent, follow_symlinks=False)
        for directory, folders, names, directory_fd in walk:
            relative = Path(directory).relative_to(leaf)
            for name in folders:
                # fwalk lists a link to a folder here (without entering it): refuse it.
                mode = os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_mode
                if not stat.S_ISDIR(mode):
                    raise TrackingRefused(f"artifact {relative / name} is not a folder")
                (target / relative / name).mkdir()
            for name in names:
                _copy_file(directory_fd, name, target / relative / name, relative / name)
    finally:
        os.close(parent)
        os.close(root)


def _copy_file(directory_fd: int, name: str, destination: Path, shown: Path) -> None:
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory_fd)
    except OSError as error:
        raise TrackingRefused(f"artifact {shown} cannot be read safely: {error}") from error
    with os.fdopen(descriptor, "rb") as source:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise TrackingRefused(f"artifact {shown} is not a regular file")
        with destination.open("wb") as copy:
            shutil.copyfileobj(source, copy)


def _pairs(message: dict[str, Any], name: str) -> list[tuple[str, Any]]:
    items = message.get(name) or []
    if not isinstance(items, list) or len(items) > _MAX_ITEMS:
        raise TrackingRefused(f"invalid {name}")
    pairs = []
    for item in items:
        if not isinstance(item, list) or len(item) != 2 or not _KEY.match(str(item[0])):
            raise TrackingRefused(f"invalid {name} entry {str(item)[:200]!r}")
        pairs.append((str(item[0]), item[1]))
    return pairs


def _metrics(message: dict[str, Any]) -> list[tuple[str, float, int, int]]:
    items = message.get("metrics") or []
    if not isinstance(items, list) or len(items) > _MAX_ITEMS:
        raise TrackingRefused("invalid metrics")
    metrics = []
    for item in items:
        try:
            key, value, timestamp, step = item
            metric = (str(key), float(value), int(timestamp), int(step))
        except (TypeError, ValueError) as error:
            raise TrackingRefused(f"invalid metric {str(item)[:200]!r}") from error
        if not _KEY.match(metric[0]) or not math.isfinite(metric[1]):
            raise TrackingRefused(f"invalid metric {str(item)[:200]!r}")
        metrics.append(metric)
    return metrics


def _text(value: Any) -> str:
    return str(value)[:6000]


def _finish_stale_run(client: MlflowClient, run_id: str | None) -> None:
    """Mark the MLflow run of an earlier attempt that died (its worker was killed) as KILLED."""
    if not run_id:
        return
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="KILLED")
    except Exception:
        logger.warning("could not close the MLflow run %s of an earlier attempt", run_id)


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise work on a new SQLite store between processes (no-op for other stores)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with Path(f"{database}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
