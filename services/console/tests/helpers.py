"""Small factories for console tests: the retail schema and sample, and waiting on pages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

from dsw_recipe.datasets import retail_training_path

RETAIL_CSV = Path(retail_training_path())
RETAIL_DATE_FORMAT = "_retail.date=%m/%d/%y"
# Small and fast: a handful of boosting rounds is enough to exercise the whole path.
FAST = {"n_estimators": "15", "num_leaves": "8", "num_threads": "1"}


def wait_for(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def first_link(html: str, prefix: str) -> str:
    """The first href in ``html`` that starts with ``prefix``."""
    match = re.search(rf'href="({re.escape(prefix)}[^"#]*)"', html)
    assert match, f"no link to {prefix} in the page"
    return unescape(match.group(1))
