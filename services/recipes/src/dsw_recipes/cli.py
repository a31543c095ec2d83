"""``dsw-recipes api | migrate | relay``."""

from __future__ import annotations

import sys

from dsw_kit.cli import run_service_cli
from dsw_recipes.app import spec


def main() -> None:
    """Entry point of the recipes image."""
    sys.exit(run_service_cli(spec))
