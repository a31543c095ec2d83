from __future__ import annotations

from pathlib import Path

import pytest
from dsw_recipe import Progress, RunContext


def test_without_tracking_everything_stays_local() -> None:
    seen: list[Progress] = []
    with RunContext(on_progress=seen.append) as ctx:
        ctx.progress("train", 150, rows=10)
        ctx.log_params({"a": 1})
        ctx.log_metrics({"m": 0.5, "nan": float("nan")})
    assert ctx.run_id is None
    assert not ctx.tracking_enabled
    assert seen[0].percent == 100.0
    assert seen[0].rows == 10
    assert ctx.params == {"a": "1"}
    assert ctx.metrics["m"] == 0.5


def test_tracking_to_a_directory_creates_a_sqlite_store(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    with RunContext(tracking_uri=tmp_path / "store", experiment_name="ctx") as ctx:
        ctx.log_params({"a": 1})
        ctx.log_metrics({"m": 0.5, "nan": float("nan")}, step=2)
        ctx.set_tags({"t": "v"})
    assert ctx.tracking_uri == f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    assert ctx.run_id is not None
    client = MlflowClient(ctx.tracking_uri)
    run = client.get_run(ctx.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"a": "1"}
    assert run.data.metrics == {"m": 0.5}  # NaN is kept locally only
    assert run.data.tags["t"] == "v"
    assert run.info.artifact_uri.startswith((tmp_path / "store" / "mlartifacts").as_uri())


def test_failed_block_marks_run_failed(tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    ctx = RunContext(tracking_uri=tracking_uri, experiment_name="ctx-fail")
    with pytest.raises(RuntimeError), ctx:
        raise RuntimeError("boom")
    assert ctx.run_id is not None
    assert MlflowClient(tracking_uri).get_run(ctx.run_id).info.status == "FAILED"


def test_attaches_to_an_existing_run_without_closing_it(tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("ctx-attach")
    run = client.create_run(experiment)
    with RunContext(tracking_uri=tracking_uri, run_id=run.info.run_id) as ctx:
        ctx.log_metrics({"m": 1.0})
    fetched = client.get_run(run.info.run_id)
    assert fetched.info.status == "RUNNING"
    assert fetched.data.metrics == {"m": 1.0}
