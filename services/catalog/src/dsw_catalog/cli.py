"""``dsw-catalog api | migrate | relay``."""

from __future__ import annotations

import sys

from dsw_catalog.app import spec
from dsw_kit.cli import run_service_cli


def main() -> None:
    """Entry point of the catalog image."""
    sys.exit(run_service_cli(spec))
