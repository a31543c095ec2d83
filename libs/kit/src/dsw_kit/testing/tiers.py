"""Test tiers: a test is in the integration tier by what it uses, not by memory.

The fast tier (``make test``) runs every package's unit tests and every service's in-process API
tests; the integration tier runs what needs real processes: the broker, ``dsw up`` stacks, worker
processes, the browser, the load generator, the MLflow server.

- A fixture that starts such a process is declared with :func:`real_process_fixture`; the
  collection hook marks every test that uses one (directly or through other fixtures) as
  ``integration``, as it marks every test carrying the ``broker`` marker.
- A test of the fast tier that starts such a process anyway fails at once: an audit hook watches
  every ``subprocess.Popen`` made while a fast-tier test runs.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any, TypeVar

import pytest

__all__ = [
    "INTEGRATION",
    "REAL_PROCESS_FIXTURES",
    "RealProcessInFastTier",
    "mark_tiers",
    "real_process_fixture",
    "watch_processes",
]

INTEGRATION = "integration"
#: Names of fixtures that start real processes (filled by :func:`real_process_fixture`).
REAL_PROCESS_FIXTURES: set[str] = {"tansu"}
#: Programs only the integration tier may start (matched against the executable's file name).
REAL_PROCESS_PROGRAMS = (
    "tansu",
    "chromium",
    "chrome",
    "playwright",
    "wrk",
    "mlflow",
    "moto_server",
)
_SERVICES = ("catalog", "recipes", "training", "scoring", "serving", "console")
#: The platform's services, as commands and as modules.
SERVICE_COMMANDS = frozenset(f"dsw-{service}" for service in _SERVICES)
SERVICE_MODULES = frozenset(f"dsw_{service}" for service in _SERVICES)

F = TypeVar("F", bound=Callable[..., Any])


class RealProcessInFastTier(RuntimeError):
    """A fast-tier test started a process that belongs to the integration tier."""


def real_process_fixture(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """``pytest.fixture`` for a fixture that starts real processes; tests using it are
    integration tests."""

    def decorate(function: F) -> F:
        REAL_PROCESS_FIXTURES.add(kwargs.get("name") or function.__name__)
        decorated: F = pytest.fixture(*args, **kwargs)(function)
        return decorated

    return decorate


def mark_tiers(items: Sequence[pytest.Item]) -> None:
    """Mark tests that use a real-process fixture or the ``broker`` marker as integration."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & REAL_PROCESS_FIXTURES or item.get_closest_marker("broker") is not None:
            item.add_marker(pytest.mark.integration)


class _Watch:
    """Which test runs now, and whether it belongs to the fast tier."""

    current: str | None = None


def enter_test(item: pytest.Item) -> None:
    """Called before a test's set-up: watch its processes if it is a fast-tier test."""
    _Watch.current = None if item.get_closest_marker(INTEGRATION) else item.nodeid


def leave_test() -> None:
    _Watch.current = None


def _command_words(args: Any) -> list[str]:
    executable, arguments = args[0], args[1]
    words = [os.fsdecode(executable)] if executable else []
    if isinstance(arguments, (str, bytes, os.PathLike)):
        words.append(os.fsdecode(arguments))
    elif arguments is not None:
        words.extend(os.fsdecode(word) for word in arguments)
    return words


def is_real_process(words: Sequence[str]) -> bool:
    """Whether a command line starts a process of the integration tier: a program of
    :data:`REAL_PROCESS_PROGRAMS`, a platform service (``dsw-<service> ...`` or ``python -m
    dsw_<service>``) or ``dsw up``."""
    names = [PurePath(word).name for word in words]
    if any(program in name for name in names[:1] for program in REAL_PROCESS_PROGRAMS):
        return True
    if names and names[0] in SERVICE_COMMANDS:
        return True
    if names[:2] == ["dsw", "up"]:
        return True
    return any(
        # The service itself, not a module of it (training's sandboxed run child is fast-tier).
        flag == "-m" and module.removesuffix(".cli") in SERVICE_MODULES
        for flag, module in itertools.pairwise(words)
    )


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "subprocess.Popen" or _Watch.current is None:
        return
    words = _command_words(args)
    if is_real_process(words):
        test, _Watch.current = _Watch.current, None
        raise RealProcessInFastTier(
            f"{test} starts {' '.join(words)!r}, a real process, without being an integration "
            "test: use a fixture declared with dsw_kit.testing.tiers.real_process_fixture, or "
            "mark the test @pytest.mark.integration"
        )


_installed = False


def watch_processes() -> None:
    """Install the audit hook (once per process; audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True
