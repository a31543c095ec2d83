"""The bwrap sandbox recipe code runs in: each test has a child try to leave it.

Every probe runs twice where that is harmless: without the sandbox (it must succeed: the probe
really does what the sandbox stops) and inside it (it must fail). The probes are plain Python
processes, so these tests take a fraction of a second each; the services' own tests run recipe
packages through the same sandbox end to end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from dsw_kit.sandbox import (
    Sandbox,
    SandboxUnavailable,
    killed_by,
    process_limit_available,
    resolve_sandbox,
)
from dsw_kit.testing.host import host_lacks

UNSANDBOXED = Sandbox(None, "the test's control run")


@dataclass
class Ran:
    returncode: int
    output: str


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    found = resolve_sandbox("auto", component="kit.test", max_processes=32)
    if not found.enabled:
        host_lacks(f"bwrap does not work on this host: {found.reason}")
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on the host's loopback that accepts connections (stands for a service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def run(sandbox: Sandbox, code: str, workdir: Path, read_only: tuple[Path, ...] = ()) -> Ran:
    confinement = sandbox.confine(
        [sys.executable, "-I", "-c", code], workdir=workdir, read_only=read_only
    )
    try:
        completed = subprocess.run(
            confinement.command,
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        confinement.release()
    return Ran(completed.returncode, (completed.stdout + completed.stderr).decode())


def test_reads_only_its_own_inputs_and_writes_only_its_work_folder(
    tmp_path: Path, workdir: Path, sandbox: Sandbox
) -> None:
    mine = tmp_path / "lake" / "org-a" / "prod" / "part-0.parquet"
    theirs = tmp_path / "lake" / "org-b" / "prod" / "part-0.parquet"
    for path, text in ((mine, "mine"), (theirs, "theirs")):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    code = f"""
print(open({str(mine)!r}).read())
open("result.txt", "w").write("written")
try:
    open({str(mine)!r}, "a").close()  # appends nothing: harmless where it is allowed
except OSError as error:
    print("input is read-only:", error.errno)
print(open({str(theirs)!r}).read())
"""
    control = run(UNSANDBOXED, code, workdir)
    assert control.returncode == 0, control.output
    assert "theirs" in control.output

    ran = run(sandbox, code, workdir, read_only=(mine,))
    assert ran.returncode == 1
    assert "mine" in ran.output
    assert "input is read-only: 30" in ran.output
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{theirs}'" in ran.output
    assert "theirs\n" not in ran.output
    assert (workdir / "result.txt").read_text() == "written"
    assert mine.read_text() == "mine"


def test_the_data_home_its_secret_and_databases_are_invisible(
    tmp_path: Path, workdir: Path, sandbox: Sandbox
) -> None:
    home = tmp_path / "home"
    (home / "mlflow").mkdir(parents=True)
    for name in ("auth-secret", "catalog.db", "mlflow/mlflow.db"):
        (home / name).write_text("top secret")
    code = f"""
import os
for root, _, names in os.walk({str(home)!r}):
    for name in names:
        print(name, open(os.path.join(root, name)).read())
print("listed", os.listdir({str(home)!r}))
"""
    control = run(UNSANDBOXED, code, workdir)
    assert control.output.count("top secret") == 3

    ran = run(sandbox, code, workdir)
    assert ran.returncode == 1
    assert "top secret" not in ran.output
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{home}'" in ran.output


def test_no_network_to_the_database_or_the_services(
    workdir: Path, sandbox: Sandbox, listener: int
) -> None:
    code = f"""
import socket
for host, port in (("127.0.0.1", {listener}), ("127.0.0.1", 5432), ("10.0.0.1", 80)):
    try:
        socket.create_connection((host, port), timeout=5).close()
        print("reached", port)
    except OSError as error:
        print("refused", port, type(error).__name__)
"""
    control = run(UNSANDBOXED, code, workdir)
    assert f"reached {listener}" in control.output

    ran = run(sandbox, code, workdir)
    assert ran.returncode == 0, ran.output
    assert f"refused {listener} ConnectionRefusedError" in ran.output
    assert "refused 5432 ConnectionRefusedError" in ran.output
    # No route out at all, not even to another machine.
    assert "refused 80 OSError" in ran.output
    assert "reached" not in ran.output


def test_the_parent_and_its_environment_are_invisible(workdir: Path, sandbox: Sandbox) -> None:
    code = f"""
import os
print("processes", len([name for name in os.listdir("/proc") if name.isdigit()]))
print("uid", os.getuid())
print(open("/proc/{os.getpid()}/environ").read())
"""
    control = run(UNSANDBOXED, code, workdir)
    assert control.returncode == 0, control.output

    ran = run(sandbox, code, workdir)
    assert ran.returncode == 1
    assert f"No such file or directory: '/proc/{os.getpid()}/environ'" in ran.output
    # Its own PID namespace (bwrap's init, the child) and an unprivileged user.
    assert "processes 2" in ran.output
    assert "uid 65534" in ran.output


def test_writes_outside_the_work_folder_fail_or_stay_private(
    tmp_path: Path, workdir: Path, sandbox: Sandbox
) -> None:
    beside = tmp_path / "beside.txt"
    planted = Path(sys.prefix) / "dsw-sandbox-escape.py"
    code = f"""
open({str(beside)!r}, "w").write("escaped")
print("wrote the private /tmp")
for path in ("/etc/escape", "/escape", {str(planted)!r}):
    try:
        open(path, "w").write("escaped")
        print("wrote", path)
    except OSError as error:
        print("refused", path, error.errno)
"""
    ran = run(sandbox, code, workdir)
    assert ran.returncode == 0, ran.output
    assert "wrote the private /tmp" in ran.output
    assert not beside.exists()  # the sandbox's /tmp is its own
    for path in ("/etc/escape", "/escape", str(planted)):
        assert f"refused {path} 30" in ran.output  # EROFS
    assert not planted.exists()


def test_a_fork_bomb_hits_the_process_limit(workdir: Path, sandbox: Sandbox) -> None:
    if not process_limit_available():
        host_lacks("no writable pids cgroup on this host")
    code = """
import os, time
started = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        started += 1
finally:
    print("forked", started)
"""
    ran = run(sandbox, code, workdir)
    assert ran.returncode == 1
    assert "BlockingIOError" in ran.output
    forked = int(ran.output.split("forked ")[1].split()[0])
    assert 0 < forked < 32
    # Its processes died with it, and the host starts new ones.
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_killed_child_reports_its_signal(workdir: Path, sandbox: Sandbox) -> None:
    ran = run(sandbox, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", workdir)
    signal_ = killed_by(ran.returncode)
    assert signal_ is not None
    assert signal_.name == "SIGKILL"
    assert killed_by(0) is None
    assert killed_by(-9) is signal_


def test_settings_choose_the_sandbox() -> None:
    off = resolve_sandbox("none", component="kit.test.none")
    assert not off.enabled
    assert off.confine(["python"], workdir=Path("/")).command == ["python"]
    assert REGISTRY.get_sample_value("dsw_recipe_sandbox", {"component": "kit.test.none"}) == 0


def test_a_data_home_inside_the_python_install_is_refused(tmp_path: Path) -> None:
    # Binding the Python install read-only would expose the home's secrets: refuse instead.
    with pytest.raises(SandboxUnavailable):
        Sandbox(Path("/bin/true"), hidden=(Path(sys.prefix) / "dsw-home",)).confine(
            ["python"], workdir=tmp_path
        )
