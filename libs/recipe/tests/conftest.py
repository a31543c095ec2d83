"""Fixtures: one temporary MLflow tracking store (SQLite) per test session, and the retail run
shared by the tests that inspect it (training once keeps the suite fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsw_recipe import LocalRunResult, run_local
from dsw_recipe.datasets import retail_training_path


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow store under a temporary directory (SQLite, artifacts beside it)."""
    directory = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{directory / 'mlflow.db'}"


@pytest.fixture(scope="session")
def retail_run(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> LocalRunResult:
    """The retail recipe trained and evaluated once on the packaged sample, logged to MLflow."""
    output = tmp_path_factory.mktemp("retail-model")
    return run_local(
        "retail-sales",
        retail_training_path(),
        tracking_uri=tracking_uri,
        experiment_name="retail-tests",
        output_dir=output,
    )


@pytest.fixture
def model_dir(retail_run: LocalRunResult) -> Path:
    """The retail model saved by the session's run."""
    assert retail_run.model_path is not None
    return retail_run.model_path
