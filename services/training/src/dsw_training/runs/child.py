"""The training process: one attempt of one run, started by a worker.

``python -m dsw_training.runs.child`` reads its job (JSON) from stdin, limits its own memory
(``RLIMIT_AS``), reads the dataset snapshot's Parquet files the worker put in its ``input/``
folder, runs the recipe through ``dsw_recipe`` (prepare, split, train, evaluate) and logs the
model with its signature. It reports to the worker as JSON lines on the file descriptor the job
names: ``progress``, ``intermediate``, what it logs to MLflow (``mlflow``, ``artifacts``: the
worker writes them to the run it created, see tracking.py), then ``succeeded`` or ``failed``.
Its stdout and stderr are the run's log. Usually it runs in the sandbox (executor.py): no
network, no files but its own.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dsw_recipe import Progress, RunContext

if TYPE_CHECKING:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

logger = logging.getLogger("dsw.training.run")

Send = Callable[..., None]


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space: allocations beyond it fail with MemoryError."""
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _window(job: dict[str, Any]) -> Any:
    from dsw_recipe import TimeWindow

    start, end = job.get("window_start"), job.get("window_end")
    if start is None and end is None:
        return None
    return TimeWindow(
        datetime.fromisoformat(start) if start else None,
        datetime.fromisoformat(end) if end else None,
    )


def die_with_parent() -> None:
    """Linux: be killed when the worker that started us dies (kill -9 included), so that a run
    taken over by another worker is never trained twice at once."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def read_snapshot(uris: list[str]) -> Any:
    """The snapshot's rows as one table with flat dotted column names.

    The catalog stores XDM objects as nested structs (``_retail`` -> ``date``); recipes read
    flat dotted fields (``_retail.date``), the way DSW exports them.
    """
    import pyarrow as pa

    from dsw_kit.lake import open_files

    table = open_files(uris).to_table()
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _reported_step(step: int) -> bool:
    """Every iteration up to 99, then every 10th up to 999, every 100th up to 9999, ...: a few
    hundred points for any length, and the same steps in every trial (so they compare)."""
    stride: int = 10 ** max(0, len(str(step)) - 2)
    return step % stride == 0


def report_iterations(send: Send) -> None:
    """Make every ``lightgbm.train`` of this process report its per-iteration metric.

    The value is LightGBM's own evaluation after each boosting round: of the recipe's first
    validation set when it passes one, else of the training set (evaluated on LightGBM's cached
    scores, so it costs little and does not change the model). A sweep driver prunes on it.
    """
    import lightgbm

    original = lightgbm.train

    def callback(env: Any) -> None:
        step = int(env.iteration) + 1
        results = list(env.evaluation_result_list or [])
        if not results or not _reported_step(step):
            return
        chosen = next((item for item in results if item[0] != "training"), results[0])
        send(
            "intermediate",
            step=step,
            value=float(chosen[2]),
            metric=f"{chosen[0]} {chosen[1]}",
            higher_is_better=bool(chosen[3]),
        )

    def train(params: Any, train_set: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), callback]
        if not kwargs.get("valid_sets") and len(args) < 2:
            kwargs["valid_sets"], kwargs["valid_names"] = [train_set], ["training"]
        return original(params, train_set, *args, **kwargs)

    lightgbm.train = train


class _RelayClient:
    """What ``RunContext`` calls on its MLflow client, sent to the worker as messages instead."""

    def __init__(self, send: Send, artifacts: Path) -> None:
        self._send = send
        self._artifacts = artifacts
        self._folders = 0

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self._send(
            "mlflow",
            params=[[param.key, param.value] for param in params],
            metrics=[[item.key, item.value, item.timestamp, item.step] for item in metrics],
            tags=[[tag.key, tag.value] for tag in tags],
        )

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        # A copy in the work folder, where the worker reads it (the original may be temporary).
        self._folders += 1
        shutil.copytree(local_dir, self._artifacts / str(self._folders), symlinks=True)
        self._send("artifacts", folder=str(self._folders), artifact_path=artifact_path)


class RelayedRunContext(RunContext):
    """The recipe's ``RunContext``: logs to the MLflow run the worker created, through the worker
    (this process has no access to the tracking store)."""

    def __init__(
        self,
        send: Send,
        *,
        run_id: str,
        artifacts: Path,
        on_progress: Callable[[Progress], None],
    ) -> None:
        super().__init__(tracking_uri="dsw-worker://", run_id=run_id, on_progress=on_progress)
        self._relay = _RelayClient(send, artifacts)

    @property
    def client(self) -> MlflowClient:
        # Only log_batch and log_artifacts, which is all RunContext itself uses.
        return cast("MlflowClient", self._relay)


def _recipe_class(job: dict[str, Any]) -> Any:
    """The installed recipe, or the one in the unpacked package the worker handed over."""
    from dsw_recipe import get_recipe, load_package_recipe

    if job.get("package_dir"):
        recipe = load_package_recipe(job["package_dir"])
        logger.info("loaded %s from its package (%s)", job["entry_point"], job["package_hash"])
        return recipe
    return get_recipe(job["entry_point"])


def train(job: dict[str, Any], send: Send) -> dict[str, Any]:
    """Run the job's recipe and log its model; what the worker records."""
    from dsw_recipe import run_local

    if job.get("report_intermediate"):
        report_iterations(send)

    def on_progress(progress: Progress) -> None:
        send("progress", stage=progress.stage, percent=progress.percent, rows=progress.rows)

    files = job["files"]
    artifacts = Path(job["workdir"]) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    ctx = RelayedRunContext(
        send, run_id=job["mlflow_run_id"], artifacts=artifacts, on_progress=on_progress
    )
    logger.info("MLflow run %s in experiment %s", job["mlflow_run_id"], job["experiment_name"])
    with tempfile.TemporaryDirectory(prefix="dsw-snapshot-") as scratch:
        snapshot = Path(scratch) / "snapshot.json"
        snapshot.write_text(json.dumps({"dataset_id": job["dataset_id"], "files": files}, indent=2))
        ctx.log_artifacts(scratch, "dataset")
    recipe = _recipe_class(job)()
    logger.info(
        "training %s %s on %d file(s) of dataset %s",
        recipe.name,
        recipe.version,
        len(files),
        job["dataset_id"],
    )
    data = read_snapshot(list(job["input_paths"]))
    logger.info("read %d rows, columns %s", data.num_rows, ", ".join(data.column_names))
    result = run_local(
        recipe,
        data,
        job["params"],
        ctx=ctx,
        window=_window(job),
        baseline=bool(job.get("baseline", True)),
        score_holdout=False,
    )
    if result.model_uri is None:
        raise RuntimeError("the model was not logged to MLflow")
    logger.info("metrics %s", json.dumps(result.metrics, sort_keys=True))
    return {
        "metrics": {name: float(value) for name, value in result.metrics.items()},
        "baseline_metrics": result.baseline_metrics,
        "feature_importance": result.feature_importance,
        "model_uri": result.model_uri,
        "rows": result.rows,
        "seconds": result.seconds,
    }


def preload() -> None:
    """Import what every run needs before the job arrives: a worker starts its next training
    process while it is idle, so a run does not wait seconds for MLflow and LightGBM imports."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dsw_recipe.recipes  # noqa: F401
        import lightgbm  # noqa: F401
        import mlflow.lightgbm
        import mlflow.pyfunc  # noqa: F401
        import pyarrow.dataset  # noqa: F401
        from mlflow.entities import Metric  # noqa: F401


def _enter_job(job: dict[str, Any]) -> None:
    """Work in the run's own folder (its output already goes to the run's log)."""
    workdir = str(job["workdir"])
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir


def main() -> int:
    """Entry point of the training process; exit code 0 when the run succeeded."""
    die_with_parent()
    preload()
    raw = sys.stdin.read()
    if not raw:
        return 0  # the worker stopped without a job for us
    job = json.loads(raw)
    parent = job.get("parent_pid")
    if parent is not None and os.getppid() != int(parent):
        return 1  # the worker died before we could ask to die with it
    _enter_job(job)
    channel = os.fdopen(int(job["message_fd"]), "w", buffering=1)

    def send(kind: str, **data: Any) -> None:
        channel.write(json.dumps({"kind": kind, **data}, default=str) + "\n")
        channel.flush()

    limit_memory(int(job["memory_limit_mb"]))
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        outcome = train(job, send)
    except BaseException as error:
        traceback.print_exc()
        send("failed", error=f"{type(error).__name__}: {error}"[:4000])
        return 1
    send("succeeded", **outcome)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is reported and flushed: skip the interpreter's slow teardown (MLflow, LightGBM).
    os._exit(code)
