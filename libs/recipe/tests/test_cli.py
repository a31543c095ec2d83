from __future__ import annotations

import json

import pytest
from dsw_recipe import run_cli
from dsw_recipe.datasets import retail_training_path


def test_list_and_describe(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed["builtin"]) == {
        "retail-sales",
        "product-purchase-prediction",
        "product-recommendations",
    }
    assert run_cli(["describe", "product-recommendations"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["taskType"] == "ranking"
    assert described["params"]["properties"]["k"]["default"] == 10


def test_run_with_text_params(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(
        [
            "run",
            "retail-sales",
            str(retail_training_path()),
            "-p",
            "n_estimators=15",
            "--no-baseline",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params"]["n_estimators"] == 15
    assert summary["baseline_metrics"] is None
    assert summary["rows"]["holdout"] == 450


def test_invalid_params_are_reported_per_field(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(
        ["run", "retail-sales", str(retail_training_path()), "-p", "n_estimators=0", "-p", "x=1"]
    )
    assert code == 2
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert {error["field"] for error in errors} == {"n_estimators", "x"}
