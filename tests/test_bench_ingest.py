"""The ingestion benchmark still runs end to end (``--small``: tiny files, same code path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_ingest.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_ingest_small_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = _bench().main(["--small", "--workdir", str(tmp_path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('{"bench": "ingest"')
    assert summary["rows"] == 20_000
    for key in ("retail_rows_per_s", "bare_retail_rows_per_s", "event_rows_per_s"):
        assert summary[key] > 0, key
    assert summary["ratio_vs_bare"] > 0
    assert summary["ratio_vs_bare_event"] > 0
    assert summary["big_file_mb"] > 3.5 * summary["small_file_mb"]
    assert 0 < summary["peak_rss_mb_small"] < 2048
    assert 0 < summary["peak_rss_mb_big"] < 2048
    assert list(tmp_path.iterdir()) == []  # the bench cleans up after itself
