"""The scoring benchmark still runs end to end (``--small``: tiny input, same code path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_scoring.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scoring", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_scoring_small_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = _bench().main(["--small", "--workdir", str(tmp_path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('{"bench": "scoring"')
    assert summary["rows"] == 20_000
    for key in ("rows_per_s", "bare_rows_per_s", "mlflow_rows_per_s"):
        assert summary[key] > 0, key
    assert summary["ratio_vs_bare"] > 0
    assert summary["ratio_vs_mlflow"] > 0
    assert 0 < summary["peak_rss_mb_20000"] < 4096
    assert 0 < summary["peak_rss_mb_80000"] < 4096
    assert list(tmp_path.iterdir()) == []  # the bench cleans up after itself
