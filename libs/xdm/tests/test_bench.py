"""Keeps bench/bench_xdm.py working: runs its main with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_xdm.py"


def test_bench_main_runs_and_prints_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_xdm", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--rows", "3000", "--sample", "300"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == summary
    assert summary["bench"] == "xdm"
    assert summary["rows"] == 3000
    assert summary["arrow_rows_per_s"] > 0 < summary["jsonschema_rows_per_s"]
    assert {"ratio_vs_jsonschema", "peak_rss_mb"} <= set(summary)
