"""The smoke run's child process on a built-in recipe, and its memory limit."""

from __future__ import annotations

from pathlib import Path

from dsw_recipes.smoke.sandbox import SmokeLimits, run_child

from .helpers import package_files, write_tree


def test_builtin_smoke_run_on_its_packaged_sample(tmp_path: Path) -> None:
    limits = SmokeLimits(timeout_seconds=60, memory_bytes=3 * 1024**3, output_lines=20)
    outcome = run_child({"kind": "builtin", "name": "retail-sales", "params": {}}, tmp_path, limits)
    assert outcome.ok, (outcome.error, outcome.output)
    assert outcome.mode == "sample"
    assert outcome.metrics["mape"] > 0
    assert outcome.describe["params"]["properties"]["n_estimators"]["type"] == "integer"


def test_memory_limit_turns_into_an_invalid_verdict(tmp_path: Path) -> None:
    package = tmp_path / "package"
    write_tree(package, package_files(features_body="blob = bytearray(6 * 1024**3)"))
    limits = SmokeLimits(timeout_seconds=60, memory_bytes=3 * 1024**3, output_lines=20)
    request = {"kind": "package", "package_dir": str(package), "sample": "data/sample.csv"}
    outcome = run_child(request, tmp_path, limits)
    assert not outcome.ok
    assert outcome.error is not None
    assert "memory limit" in outcome.error
