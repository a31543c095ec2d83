"""Load: a fixed 500 predictions/s over three services through a promotion and a rollback.

Runs the serving benchmark's load phase (``bench/bench_serving.py --load-only``) against real
processes: Tansu, catalog, training with its worker, serving on uvicorn. The requirement tested is
that no request fails while revisions change under load; the rate reached and the p99 are reported
(printed), never asserted, since they depend on the machine.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_serving.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serving", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Ingestion, two training runs and 60 s of load: minutes on a busy two-core machine.
@pytest.mark.timeout(900)
def test_fixed_rate_across_three_services_with_promotion_and_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = os.environ.get("DSW_TEST_LOAD_SECONDS", "60")
    summary = _bench().main(["--load-only", "--fixed-seconds", seconds, "--workdir", str(tmp_path)])
    output = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + next(line for line in output.splitlines() if line.startswith("fixed rate")))
    assert summary["fixed_requests"] > 0
    assert summary["fixed_failed"] == 0
    assert summary["fixed_services"] == 3
    # Promoted to revision 2 a third of the way in, rolled back to revision 1 at two thirds.
    assert summary["fixed_live_revisions"] == {"bench": 1, "bench-2": 1, "bench-3": 1}
    assert summary["fixed_p99_ms"] is not None
    assert list(tmp_path.iterdir()) == []  # the bench cleans up after itself
