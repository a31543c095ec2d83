"""The architecture rules hold, and the checker notices when they do not."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_architecture", ROOT / "scripts" / "check_architecture.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_codebase_follows_the_rules() -> None:
    assert _checker().main() == 0


def test_cross_service_imports_and_stray_commits_are_found(tmp_path: Path) -> None:
    checker = _checker()
    offender = ROOT / "services" / "scoring" / "src" / "dsw_scoring" / "_offender_for_test.py"
    offender.write_text("from dsw_training.models import Base\n\ndef f(s):\n    s.commit()\n")
    try:
        problems = checker.check_file(offender)
    finally:
        offender.unlink()
    assert any("imports dsw_training" in problem for problem in problems)
    assert any("commit() outside" in problem for problem in problems)
