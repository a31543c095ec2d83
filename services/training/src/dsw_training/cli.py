"""``dsw-training api | migrate | relay | worker catalog-events|runs|sweeps|schedules``."""

from __future__ import annotations

import sys

from dsw_kit.cli import run_service_cli
from dsw_training.app import spec


def main() -> None:
    """Entry point of the training image."""
    sys.exit(run_service_cli(spec))
