"""The ``dsw`` command: run the platform and work with it from a terminal."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

# Only what parsing and printing need is imported here; each command imports the rest itself
# (the HTTP client, pyarrow, the services' kit), so `dsw --help` answers at once.
from dsw import _cli_data, _cli_ml, _cli_serve, _local, _output

if TYPE_CHECKING:
    from dsw._stack import EmbeddedStack

app = typer.Typer(
    help="Data science workspace: from raw data to a published, monitored prediction service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = _output.console
errors = _output.errors
app.add_typer(_cli_data.schemas, name="schemas")
app.add_typer(_cli_data.datasets, name="datasets")
app.add_typer(_cli_data.recipes, name="recipes")
app.add_typer(_cli_ml.models, name="models")
app.command("train")(_cli_ml.train)
app.add_typer(_cli_ml.runs, name="runs")
app.command("sweep")(_cli_ml.sweep)
app.add_typer(_cli_ml.score, name="score")
app.add_typer(_cli_serve.services, name="services")
app.command("predict")(_cli_serve.predict)
app.command("demo")(_cli_serve.demo)


@app.callback()
def _options(
    home: Path | None = typer.Option(
        None,
        "--home",
        envvar="DSW_HOME",
        help="Data home of the platform (default: the running `dsw up`'s, else ~/.dsw)",
    ),
    profile: str | None = typer.Option(
        None, "--profile", envvar="DSW_PROFILE", help="Profile of ~/.config/dsw/config.toml"
    ),
    url: str | None = typer.Option(
        None, "--url", envvar="DSW_URL", help="Base URL of a remote platform (all services)"
    ),
) -> None:
    """Data science workspace: from raw data to a published, monitored prediction service."""
    # The SDK and the platform read the environment: a flag is the same as its variable.
    if home is not None:
        os.environ["DSW_HOME"] = str(home.expanduser().resolve())
    for name, value in (("DSW_PROFILE", profile), ("DSW_URL", url)):
        if value is not None:
            os.environ[name] = value


@app.command()
def up(
    timeout: float = typer.Option(180.0, help="Seconds to wait for every service to be ready"),
    demo: bool = typer.Option(
        False, "--demo", help="Run the walkthrough once the platform is ready"
    ),
) -> None:
    """Start the embedded platform (broker and services) and keep it running until Ctrl-C."""
    from dsw._stack import EmbeddedStack
    from dsw_kit.settings import PlatformSettings

    settings = PlatformSettings(home=_local.data_home())
    stack = EmbeddedStack(settings, say=lambda line: console.print(line))
    console.print(f"data home: {settings.resolved_home}")
    try:
        stack.start(timeout)
    except (RuntimeError, TimeoutError, OSError) as error:
        errors.print(f"[red]could not start the platform:[/red] {error}")
        stack.stop()
        raise typer.Exit(1) from error
    token = _local.dev_token(settings.resolved_home)
    console.print("\n[bold]The platform is ready.[/bold] Dev token (all scopes, org 'default'):")
    console.print(token, soft_wrap=True)
    catalog = stack.urls()["catalog"]
    console.print("\nTry it:")
    console.print(f"  export DSW_TOKEN=$({sys.argv[0]} token)", soft_wrap=True, markup=False)
    console.print(
        f'  curl -H "Authorization: Bearer $DSW_TOKEN" {catalog}/catalog/v1/datasets',
        soft_wrap=True,
        markup=False,
    )
    console.print(f"  API docs: {catalog}/docs (likewise on every service)", soft_wrap=True)
    console.print(
        f"  Web console: {_local.console_url()} (dev login on the sign-in page)", soft_wrap=True
    )
    if stack.mlflow_ui is not None:
        console.print(
            f"  MLflow UI: {stack.mlflow_ui} (runs and models; the first start takes a while)",
            soft_wrap=True,
        )
    else:
        console.print(
            "  MLflow UI: not installed (make mlflow-tool); the console shows runs without it",
            soft_wrap=True,
        )
    if demo and not _run_demo(stack):
        stack.stop()
        console.print("stopped.")
        return
    console.print("Press Ctrl-C to stop.")
    died = stack.watch()
    stack.stop()
    if died:
        errors.print(
            f"[red]{died} stopped unexpectedly; see {settings.resolved_home / 'logs'}[/red]"
        )
        raise typer.Exit(1)
    console.print("stopped.")


def _run_demo(stack: EmbeddedStack) -> bool:
    """The walkthrough against the stack just started; False when Ctrl-C interrupted it.

    A failed step leaves the platform up for the user to look into.
    """
    from dsw.client import Client
    from dsw.config import Config
    from dsw.demo import run_demo
    from dsw.errors import ApiError

    console.print()
    try:
        with Client(Config(urls=stack.urls())) as client:
            run_demo(client, console)
    except KeyboardInterrupt:
        return False
    except (ApiError, RuntimeError, OSError) as error:
        errors.print(f"[red]the demo failed:[/red] {error}")
    console.print("\n[bold]Demo done.[/bold] The platform keeps running for you to explore.")
    return True


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Show whether each service of the embedded platform is ready."""
    home = _local.data_home()
    state = _local.read_state(home)
    if state is None:
        errors.print(f"the platform is not running from {home} (start it with: dsw up)")
        raise typer.Exit(1)
    services = state.get("services", {})
    assert isinstance(services, dict)
    if "console" in state:
        services = {**services, "console": state["console"]}
    children = state.get("children", {})
    if state.get("mlflow_ui") and isinstance(children, dict) and "mlflow-ui" in children:
        services = {**services, "mlflow-ui": state["mlflow_ui"]}
    results = {
        name: _local.readiness(str(url), path="/health" if name == "mlflow-ui" else "/readyz")
        for name, url in services.items()
    }
    if as_json:
        import json

        print(
            json.dumps(
                {
                    name: {"ready": ok, "detail": detail, "url": services[name]}
                    for name, (ok, detail) in results.items()
                }
            )
        )
    else:
        table = Table("service", "url", "status")
        for name, (ok, detail) in results.items():
            table.add_row(name, str(services[name]), "[green]ready[/green]" if ok else detail)
        console.print(table)
    # The MLflow UI is shown but optional: its first start takes minutes, and the platform works
    # without it, so only the services decide the exit status.
    if not all(ok for name, (ok, _) in results.items() if name != "mlflow-ui"):
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop the embedded platform started by ``dsw up``."""
    home = _local.data_home()
    state = _local.read_state(home)
    if state is None:
        console.print(f"the platform is not running from {home}")
        return
    pid = state["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if _local.read_state(home) is None:
            console.print("stopped.")
            return
        time.sleep(0.2)
    errors.print(f"process {pid} did not stop in time")
    raise typer.Exit(1)


@app.command()
def token(
    ttl: int = typer.Option(30 * 24 * 3600, help="Lifetime in seconds"),
) -> None:
    """Print a development token for the embedded platform (all scopes, org 'default')."""
    try:
        print(_local.dev_token(ttl_seconds=ttl))
    except _local.NoPlatform as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from error


def main() -> None:
    """Entry point of the ``dsw`` command."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # `dsw ... | head`: the reader is gone; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
