"""The training process: one attempt of one run, started by a worker.

``python -m dsw_training.runs.child`` reads its job (JSON) from stdin, limits its own memory
(``RLIMIT_AS``), reads the dataset snapshot's Parquet files straight from the lake (it needs no
token), runs the recipe through ``dsw_recipe`` (prepare, split, train, evaluate) with a
``RunContext`` logging to MLflow, logs the model with its signature, registers a model version,
and reports to the worker as JSON lines on the file descriptor the job names: ``started``,
``progress``, then ``succeeded`` or ``failed``. Its stdout and stderr are the run's log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

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


def _start_run(ctx: Any, tracking_uri: str) -> str:
    # The first runs against a new SQLite store create its tables, and two runs of a new model
    # may create its experiment at once: one process at a time, and retry on a lost race.
    for attempt in range(5):
        try:
            with _store_lock(tracking_uri):
                return str(ctx.start())
        except Exception:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError("unreachable")


def _finish_stale_run(client: Any, run_id: str | None) -> None:
    """Mark the MLflow run of an earlier attempt that died (its worker was killed) as KILLED."""
    if not run_id:
        return
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="KILLED")
    except Exception:
        logger.warning("could not close the MLflow run %s of an earlier attempt", run_id)


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


def _register(client: Any, name: str, source: str, run_id: str, tags: dict[str, str]) -> str:
    """A new version of the registered model ``name`` (created on first use)."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, tags={"dsw.model_id": tags["dsw.model_id"]})
    except MlflowException as error:
        if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, source, run_id=run_id, tags=tags)
    return str(version.version)


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


def _recipe_class(job: dict[str, Any]) -> Any:
    """The installed recipe, or the one in the unpacked package the worker handed over."""
    from dsw_recipe import get_recipe, load_package_recipe

    if job.get("package_dir"):
        recipe = load_package_recipe(job["package_dir"])
        logger.info("loaded %s from its package (%s)", job["entry_point"], job["package_hash"])
        return recipe
    return get_recipe(job["entry_point"])


def train(job: dict[str, Any], send: Send) -> dict[str, Any]:
    """Run the job's recipe and register its model; what the worker records."""
    from dsw_recipe import Progress, RunContext, run_local

    if job.get("report_intermediate"):
        report_iterations(send)

    files = job["files"]
    batch_ids = sorted({str(item["batch_id"]) for item in files})
    tags = {
        "dsw.run_id": job["run_id"],
        "dsw.model_id": job["model_id"],
        "dsw.dataset_id": job["dataset_id"],
        "dsw.dataset.batch_ids": ",".join(batch_ids)[:5000],
        "dsw.attempt": str(job["attempt"]),
        "dsw.recipe_id": job["recipe_id"],
        "dsw.version_id": job["version_id"],
    }

    def on_progress(progress: Progress) -> None:
        send("progress", stage=progress.stage, percent=progress.percent, rows=progress.rows)

    ctx = RunContext(
        tracking_uri=job["tracking_uri"],
        experiment_name=job["experiment_name"],
        run_name=f"run-{job['run_id'][:8]}-attempt-{job['attempt']}",
        tags=tags,
        on_progress=on_progress,
    )
    mlflow_run_id = _start_run(ctx, job["tracking_uri"])
    _finish_stale_run(ctx.client, job.get("stale_mlflow_run_id"))
    experiment_id = ctx.client.get_run(mlflow_run_id).info.experiment_id
    send("started", mlflow_run_id=mlflow_run_id, experiment_id=experiment_id)
    logger.info("MLflow run %s in experiment %s", mlflow_run_id, job["experiment_name"])
    with ctx:
        with tempfile.TemporaryDirectory(prefix="dsw-snapshot-") as scratch:
            snapshot = Path(scratch) / "snapshot.json"
            snapshot.write_text(
                json.dumps({"dataset_id": job["dataset_id"], "files": files}, indent=2)
            )
            ctx.log_artifacts(scratch, "dataset")
        recipe = _recipe_class(job)()
        logger.info(
            "training %s %s on %d file(s) of dataset %s",
            recipe.name,
            recipe.version,
            len(files),
            job["dataset_id"],
        )
        data = read_snapshot([str(item["uri"]) for item in files])
        logger.info("read %d rows, columns %s", data.num_rows, ", ".join(data.column_names))
        result = run_local(
            recipe,
            data,
            job["params"],
            ctx=ctx,
            window=_window(job),
            baseline=bool(job.get("baseline", False)),
            score_holdout=False,
        )
        if result.model_uri is None:
            raise RuntimeError("the model was not logged to MLflow")
        logger.info("metrics %s", json.dumps(result.metrics, sort_keys=True))
        version = _register(
            ctx.client, job["registered_model_name"], result.model_uri, mlflow_run_id, tags
        )
        logger.info("registered %s version %s", job["registered_model_name"], version)
    return {
        "metrics": {name: float(value) for name, value in result.metrics.items()},
        "baseline_metrics": result.baseline_metrics,
        "mlflow_run_id": mlflow_run_id,
        "experiment_id": experiment_id,
        "model_uri": result.model_uri,
        "registered_model": job["registered_model_name"],
        "model_version": version,
        "rows": result.rows,
        "seconds": result.seconds,
    }


def preload(tracking_uri: str | None) -> None:
    """Import what every run needs, and open the MLflow store, before the job arrives: a worker
    starts its next training process while it is idle, so a run does not wait seconds for
    MLflow and LightGBM imports."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dsw_recipe.recipes  # noqa: F401
        import lightgbm  # noqa: F401
        import mlflow.lightgbm
        import mlflow.pyfunc  # noqa: F401
        import pyarrow.dataset  # noqa: F401
        from mlflow.tracking import MlflowClient

        if tracking_uri:
            # MLflow keeps one store per URI in a process: opening it now (creating its tables
            # on first use, one process at a time) spares the run that work.
            with _store_lock(tracking_uri):
                MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)


@contextmanager
def _store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise work on a new SQLite store between training processes (no-op otherwise)."""
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


def _enter_job(job: dict[str, Any]) -> None:
    """Work in the run's own folder and write to the run's log from now on."""
    workdir = str(job["workdir"])
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir
    log = os.open(str(job["log_file"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def main() -> int:
    """Entry point of the training process; exit code 0 when the run succeeded."""
    die_with_parent()
    preload(sys.argv[1] if len(sys.argv) > 1 else None)
    raw = sys.stdin.read()
    if not raw:
        return 0  # the worker stopped without a job for us
    job = json.loads(raw)
    if os.getppid() != int(job.get("parent_pid", os.getppid())):
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
