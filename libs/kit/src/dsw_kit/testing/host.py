"""Tests that need a capability of the host (bwrap, a writable pids cgroup)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["host_lacks"]


def host_lacks(reason: str) -> NoReturn:
    """Skip: this host cannot run the test. CI sets ``DSW_TEST_REQUIRE_SANDBOX=1`` on machines
    that can, so there a missing capability fails instead of hiding the sandbox tests."""
    if os.environ.get("DSW_TEST_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"{reason} (DSW_TEST_REQUIRE_SANDBOX=1: this host must run it)")
    pytest.skip(reason)
