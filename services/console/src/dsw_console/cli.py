"""``dsw-console api [--host H] [--port P]``: serve the web console."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from dsw_console.app import create_app
from dsw_console.settings import ConsoleSettings


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen role; the exit code."""
    parser = argparse.ArgumentParser(description="Run the web console.")
    roles = parser.add_subparsers(dest="role", required=True)
    api = roles.add_parser("api", help="serve the console's pages")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    # The console has no database; `migrate` exists so that tooling that migrates every
    # service before starting it can treat the console like the others.
    roles.add_parser("migrate", help="nothing to migrate (the console has no database)")
    args = parser.parse_args(argv)
    if args.role == "migrate":
        return 0
    settings = ConsoleSettings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def main() -> None:
    """Entry point of the ``dsw-console`` command."""
    sys.exit(run())
