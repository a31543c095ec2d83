"""The `dsw` command starts quickly and finds the platform of `dsw up` from any folder.

Quick: each command imports only what it uses (checked on ``sys.modules`` of a fresh interpreter,
not with a stopwatch). Anywhere: the data home and URLs come from ``DSW_HOME``/``--home``, the
pointer a running ``dsw up`` leaves in the user's configuration folder, or ``~/.dsw``; and no
command mints a secret the running services do not know.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from dsw import _local
from dsw.cli import app
from dsw.config import SERVICES, Config

HEAVY = ("pandas", "sqlalchemy", "pyarrow", "pyarrow.dataset", "fastapi", "dsw_kit.auth")
runner = CliRunner()


def _loaded_after(code: str, env: dict[str, str], cwd: Path) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's HOME and configuration folder in ``tmp_path``, no dsw variables, cwd elsewhere."""
    for name in (
        "DSW_HOME",
        "DSW_URL",
        "DSW_TOKEN",
        "DSW_PROFILE",
        "DSW_CONFIG",
        "DSW_AUTH_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for service in SERVICES:
        monkeypatch.delenv(f"DSW_{service.upper()}_URL", raising=False)
        monkeypatch.delenv(f"DSW_{service.upper()}_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user" / "config"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    return tmp_path


def _running_platform(home: Path, secret: str = "s" * 48) -> dict[str, str]:
    """What a running `dsw up` leaves behind: its secret, state and pointer (this process's pid)."""
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "jwt-hs256.key").write_text(secret)
    urls = {name: f"http://127.0.0.1:{9300 + i}" for i, name in enumerate(SERVICES)}
    state = {"pid": os.getpid(), "services": urls, "console": "http://127.0.0.1:9399"}
    (home / "stack.json").write_text(json.dumps(state))
    _local.write_pointer(home, os.getpid())
    return urls


def test_help_loads_no_data_or_web_stack(user: Path) -> None:
    code = (
        "import sys\nsys.argv = ['dsw', '--help']\nfrom dsw.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(code, dict(os.environ), Path.cwd()) == []


def test_a_list_command_loads_only_the_http_client(user: Path) -> None:
    # What `dsw datasets list` does before its request: the client, its URLs, a signed token.
    _running_platform(user / "platform")
    code = "import dsw\nclient = dsw.Client()\nassert client.config.headers()['Authorization']"
    assert _loaded_after(code, dict(os.environ), Path.cwd()) == []


def test_running_platform_found_from_any_folder(user: Path) -> None:
    home = user / "platform"
    secret = "k" * 48
    urls = _running_platform(home, secret)
    assert _local.data_home() == home.resolve()
    config = Config.load()
    assert config.urls == urls
    token = config.headers()["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="dsw")
    assert claims["org"] == "default"
    result = runner.invoke(app, ["token"])
    assert result.exit_code == 0, result.output
    jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"], audience="dsw")
    # status asks the recorded URLs (nothing answers there: not ready, but found).
    result = runner.invoke(app, ["status"])
    assert "not running" not in result.output
    assert "9300" in result.output
    assert not (Path.cwd() / ".dsw").exists()


def test_no_platform_no_new_secret(user: Path) -> None:
    result = runner.invoke(app, ["token"])
    assert result.exit_code == 1
    assert "no platform found" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["datasets", "list"])
    assert result.exit_code == 1
    assert "no platform found" in result.output
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert f"not running from {user / 'user' / '.dsw'}" in result.output
    # Nothing was created: not a .dsw here, not a data home, not a secret.
    assert not (Path.cwd() / ".dsw").exists()
    assert not (user / "user" / ".dsw").exists()


def test_stopped_platform_pointer_is_ignored(user: Path) -> None:
    home = user / "platform"
    _running_platform(home)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _local.write_pointer(home, int(dead.stdout))
    assert _local.data_home() == (user / "user" / ".dsw").resolve()


def test_home_flag_and_environment_win(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _running_platform(user / "platform")
    other = user / "other"
    (other / "secrets").mkdir(parents=True)
    (other / "secrets" / "jwt-hs256.key").write_text("o" * 48)
    result = runner.invoke(app, ["--home", str(other), "token"])
    assert result.exit_code == 0, result.output
    jwt.decode(result.stdout.strip(), "o" * 48, algorithms=["HS256"], audience="dsw")
    monkeypatch.setenv("DSW_HOME", str(other))
    assert _local.data_home() == other.resolve()


def test_pointer_removed_only_for_its_own_home(user: Path) -> None:
    home = user / "platform"
    _local.write_pointer(home, os.getpid())
    _local.remove_pointer(user / "another")
    assert _local.pointer_path().exists()
    _local.remove_pointer(home)
    assert not _local.pointer_path().exists()


def test_output_not_a_terminal_is_never_cut(user: Path) -> None:
    run_id = "0c8" + "f" * 61
    code = (
        "from dsw import _output\n"
        f"_output.table([{{'run': {run_id!r}, 'mape': 0.0412345, 'note': 'x' * 300}}],"
        " ('run', 'mape', 'note'))\n"
        "_output.errors.print('a long error ' * 30)"
    )
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert run_id in result.stdout
    assert "0.04123" in result.stdout
    assert "x" * 300 in result.stdout
    assert "…" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_shows_a_ranking_as_items_per_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from dsw import _output

    answer = {
        "revision": 1,
        "predictions": [0.9, 0.4],
        "top_k": [{"userId": "17850", "items": ["22423", "85099B"], "scores": [0.9, 0.4]}],
    }
    fake = SimpleNamespace(services=SimpleNamespace(predict=lambda name, rows, api_key: answer))
    monkeypatch.setattr(_output, "client_factory", lambda: fake)
    result = runner.invoke(app, ["predict", "recs", '{"userId": "17850"}'])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "userId=17850" in line]
    assert len(lines) == 2
    assert "85099B" in lines[1]
    assert " 2 " in lines[1]
