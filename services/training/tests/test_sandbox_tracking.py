"""The worker writes to MLflow for the sandboxed training process: what it refuses to pass on.

A sandboxed process cannot read the worker's files, but the worker can: a link in an artifact
folder would make the worker upload its own secret to the tenant's run. And recipe code must not
rewrite the platform's tags on the run (they tie it to its model, run and dataset).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dsw_training.runs.tracking import RunTracker, TrackingRefused, copy_regular_files


def _job(home: Path) -> dict[str, Any]:
    return {
        "run_id": "7f0c2a4e-0000-4000-8000-000000000001",
        "model_id": "model-1",
        "dataset_id": "dataset-1",
        "attempt": 1,
        "recipe_id": "recipe-1",
        "version_id": "version-1",
        "files": [{"batch_id": "batch-1", "uri": "file:///nowhere.parquet"}],
        "tracking_uri": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "experiment_name": "org-a.prod.escape",
        "registered_model_name": "org-a.prod.escape",
        "stale_mlflow_run_id": None,
    }


def test_artifacts_are_copied_without_following_links(tmp_path: Path) -> None:
    secret = tmp_path / "home" / "secrets" / "jwt-hs256.key"
    secret.parent.mkdir(parents=True)
    secret.write_text("top secret")
    work = tmp_path / "work"
    model = work / "artifacts" / "1" / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}")

    copy_regular_files(work, "artifacts/1", tmp_path / "copy-1")
    assert (tmp_path / "copy-1" / "model" / "MLmodel").read_text() == "flavors: {}"

    (model / "leak.txt").symlink_to(secret)
    with pytest.raises(TrackingRefused, match=r"leak\.txt"):
        copy_regular_files(work, "artifacts/1", tmp_path / "copy-2")
    (model / "leak.txt").unlink()
    (model / "secrets").symlink_to(secret.parent)
    with pytest.raises(TrackingRefused, match="secrets"):
        copy_regular_files(work, "artifacts/1", tmp_path / "copy-3")
    # The artifacts folder itself swapped for a link to the worker's folders.
    (work / "artifacts").rename(work / "moved")
    (work / "artifacts").symlink_to(secret.parent.parent)
    os.mkdir(secret.parent.parent / "1")
    with pytest.raises(TrackingRefused, match="cannot be read safely"):
        copy_regular_files(work, "artifacts/1", tmp_path / "copy-4")
    for copy in ("copy-2", "copy-3", "copy-4"):
        assert "top secret" not in "".join(
            path.read_text() for path in (tmp_path / copy).rglob("*") if path.is_file()
        )


def test_recipe_code_cannot_rewrite_the_platforms_tags(tmp_path: Path) -> None:
    tracker = RunTracker(_job(tmp_path), tmp_path / "uploads")
    tracker.log(
        {
            "kind": "mlflow",
            "params": [["shrink", "0.1"]],
            "metrics": [["mae", 1.5, 0, 0]],
            "tags": [["dsw.recipe", "mean-recipe"]],
        }
    )
    for key in ("dsw.model_id", "dsw.run_id", "mlflow.user"):
        with pytest.raises(TrackingRefused, match=key):
            tracker.log({"kind": "mlflow", "tags": [[key, "someone else's"]]})
    with pytest.raises(TrackingRefused):
        tracker.log({"kind": "mlflow", "metrics": [["mae", "NaN", 0, 0]]})
    with pytest.raises(TrackingRefused):
        tracker.register(f"runs:/{'0' * 32}/model")  # another run's model
    tracker.finish("FAILED")

    run = tracker.client.get_run(tracker.run_id)
    assert run.data.params == {"shrink": "0.1"}
    assert run.data.metrics == {"mae": 1.5}
    assert run.data.tags["dsw.model_id"] == "model-1"
    assert run.data.tags["dsw.recipe"] == "mean-recipe"
    assert run.info.status == "FAILED"
