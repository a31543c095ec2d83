"""The test tiers: tests land in a tier by what they use, and a fast test cannot start a real
process unnoticed."""

from __future__ import annotations

import pytest

from dsw_kit.testing.tiers import is_real_process

pytest_plugins = ("pytester",)

USES_BROKER = """
import pytest

def test_on_the_broker(tansu):
    pass

@pytest.fixture
def stack(tansu):
    return tansu

def test_through_another_fixture(stack):
    pass

@pytest.mark.broker
def test_marked_broker():
    pass

def test_in_process(event_bootstrap):
    assert event_bootstrap.startswith("memory://")
"""


def test_tests_using_a_real_process_fixture_are_integration_tests(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_tiers_sample=USES_BROKER)
    fast = pytester.runpytest("-m", "not integration", "--collect-only", "-q")
    fast.stdout.fnmatch_lines(["*test_in_process*", "*1/4 tests collected (3 deselected)*"])
    integration = pytester.runpytest("-m", "integration", "--collect-only", "-q")
    integration.stdout.fnmatch_lines(["*3/4 tests collected (1 deselected)*"])
    assert "test_in_process" not in integration.stdout.str()


STARTS_A_BROKER = """
import subprocess
import pytest

def test_fast_but_starts_a_broker(tmp_path):
    subprocess.Popen([str(tmp_path / "bin" / "tansu"), "broker"])

@pytest.mark.integration
def test_marked_and_starts_a_broker(tmp_path):
    with pytest.raises(FileNotFoundError):
        subprocess.Popen([str(tmp_path / "bin" / "tansu"), "broker"])

def test_fast_and_starts_a_plain_program():
    assert subprocess.run(["true"], check=False).returncode == 0
"""


def test_a_fast_test_that_starts_a_real_process_fails_loudly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_processes_sample=STARTS_A_BROKER)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*RealProcessInFastTier*test_fast_but_starts_a_broker starts*tansu broker*"]
    )


@pytest.mark.parametrize(
    ("command", "real"),
    [
        (["/usr/bin/chromium", "--headless"], True),
        (["/x/.venv/bin/dsw-scoring", "worker", "runs"], True),
        (["/x/.venv/bin/python", "-m", "dsw_training", "api"], True),
        (["dsw", "up", "--demo"], True),
        (["/usr/bin/wrk", "-t1", "http://x"], True),
        (["/x/.tools/mlflow/bin/mlflow", "server"], True),
        (["dsw", "datasets", "list"], False),
        (["/x/.venv/bin/python", "-m", "dsw_training.runs.child"], False),
        (["/x/.venv/bin/dsw-recipe", "run"], False),
        (["bwrap", "--die-with-parent", "python", "-c", "pass"], False),
        (["git", "status"], False),
    ],
)
def test_which_commands_are_real_processes(command: list[str], real: bool) -> None:
    assert is_real_process(command) is real
