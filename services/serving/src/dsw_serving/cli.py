"""``dsw-serving api | migrate | relay``."""

from __future__ import annotations

import sys

from dsw_kit.cli import run_service_cli
from dsw_serving.app import spec


def main() -> None:
    """Entry point of the serving image."""
    sys.exit(run_service_cli(spec))
