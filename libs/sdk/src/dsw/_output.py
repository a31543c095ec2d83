"""What the CLI commands share: the client, tables or JSON, and one-line errors."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from dsw.errors import ApiError, WaitTimeout

if TYPE_CHECKING:
    from dsw.client import Client

# Wider than any terminal when the output is a file or a pipe: logs and scripts get whole values
# (a run id or a metric is never cut to `0c8…`), people at a terminal get tables that fit.
UNCUT = 1_000_000


def terminal_console(*, stderr: bool = False) -> Console:
    """A console that fits a terminal, and never wraps or crops what goes elsewhere."""
    made = Console(stderr=stderr)
    if made.is_terminal:
        return made
    return Console(stderr=stderr, width=UNCUT, soft_wrap=True)


console = terminal_console()
errors = terminal_console(stderr=True)
P = ParamSpec("P")
T = TypeVar("T")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON (for scripts)")


def _default_client() -> Client:
    from dsw.client import Client

    return Client()


# Tests replace this to reach in-process services; everything else uses env/profile/embedded.
client_factory: Callable[[], Client] = _default_client


def client() -> Client:
    """The client of this command."""
    return client_factory()


def friendly(command: Callable[P, T]) -> Callable[P, T]:
    """Turn API and input errors into one red line and exit code 1 (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader of a pipe is gone (`| head`): not an error to report
        except ApiError as error:
            errors.print(f"[red]error:[/red] {error.message}", markup=True, highlight=False)
        except (ValueError, OSError, WaitTimeout) as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1)

    return wrapper


def bars(as_json: bool) -> bool:
    """Whether to draw live progress bars: for people at a terminal, not in JSON, logs or pipes."""
    return not as_json and console.is_terminal


def print_json(value: Any) -> None:
    """JSON on stdout, nothing else."""
    print(json.dumps(value, indent=2, default=str))


def table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> None:
    """A table of the given fields (nested ones as ``a.b``)."""
    view = Table(*columns, title=title)
    for row in rows:
        view.add_row(*(_cell(_field(row, column)) for column in columns))
    console.print(view)


def show(
    value: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    as_json: bool,
    *,
    title: str | None = None,
) -> None:
    """JSON for scripts, a table for people."""
    if as_json:
        print_json(value)
    elif isinstance(value, Mapping):
        details(value, columns)
    else:
        table(value, columns, title=title)


def details(value: Mapping[str, Any], fields: Sequence[str]) -> None:
    """One resource as a two-column table."""
    view = Table("field", "value", show_header=False)
    for name in fields:
        view.add_row(name, _cell(_field(value, name)))
    console.print(view)


def _field(row: Mapping[str, Any], path: str) -> Any:
    if path in row:  # a flat row whose keys are already dotted paths
        return row[path]
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``name=value`` options; values parse as JSON when they can (numbers, booleans, lists)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"expected name=value, got {pair!r}")
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


def is_id(reference: str) -> bool:
    """Whether ``reference`` is a resource id (else a name)."""
    try:
        uuid.UUID(reference)
    except ValueError:
        return False
    return True


def dataset_id(api: Client, reference: str) -> str:
    """The id of a dataset given by id or name."""
    if is_id(reference):
        return reference
    found = api.datasets.find(reference)
    if found is None:
        raise ValueError(f"no dataset named {reference!r}")
    return found.id


def model_id(api: Client, reference: str) -> str:
    """The id of a model given by id or name."""
    if is_id(reference):
        return reference
    found = api.models.find(reference)
    if found is None:
        raise ValueError(f"no model named {reference!r}")
    return found.id
