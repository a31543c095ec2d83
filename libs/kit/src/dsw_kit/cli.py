"""The command line of every service image: ``api | migrate | relay | worker``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import uvicorn

from dsw_kit import migrations
from dsw_kit.app import Background, ServiceSpec, build_runtime, create_service_app
from dsw_kit.events import OutboxRelay
from dsw_kit.logging import configure_logging

__all__ = ["run_service_cli"]


def run_service_cli(
    spec_factory: Callable[[], ServiceSpec], argv: Sequence[str] | None = None
) -> int:
    """Parse ``argv`` and run the chosen role of the service; the exit code."""
    spec = spec_factory()
    workers = dict(spec.background)
    parser = argparse.ArgumentParser(description="Run one role of this service.")
    roles = parser.add_subparsers(dest="role", required=True)
    api = roles.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    migrate = roles.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--revision", default="head")
    migrate.add_argument("--downgrade", action="store_true", help="downgrade to --revision")
    roles.add_parser("relay", help="deliver the outbox to the broker (when not embedded)")
    revision = roles.add_parser("revision", help="autogenerate a migration (developers)")
    revision.add_argument("-m", "--message", required=True)
    if workers:
        worker = roles.add_parser("worker", help="run a background worker")
        worker.add_argument("kind", choices=sorted(workers))
    args = parser.parse_args(argv)
    settings = spec.settings

    if args.role == "api":
        if args.host:
            settings.host = args.host
        if args.port:
            settings.port = args.port
        app = create_service_app(spec)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        return 0

    configure_logging(
        spec.name, level=settings.platform.log_level, json_lines=settings.platform.log_json
    )
    if args.role == "migrate":
        url = settings.resolved_database_url
        if args.downgrade:
            migrations.downgrade(url, spec.migrations_path, args.revision)
        else:
            migrations.upgrade(url, spec.migrations_path, args.revision)
        return 0

    if args.role == "revision":
        migrations.new_revision(spec.migrations_path, args.message)
        return 0

    runtime = build_runtime(spec)
    component: Background
    if args.role == "relay":
        component = OutboxRelay(
            runtime.database,
            spec.outbox_model,
            bootstrap=settings.platform.kafka_bootstrap,
            client_id=f"dsw-{spec.name}-relay",
            poll_seconds=settings.outbox_poll_seconds,
        )
    else:
        component = workers[args.kind](runtime)
    _run_until_signalled(component)
    return 0


def _run_until_signalled(component: Background) -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    component.start()
    stop.wait()
    component.stop(10.0)
    sys.stdout.flush()
