"""Polling a resource until it is done, with an optional rich progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from dsw.errors import WaitTimeout

__all__ = ["Pollable", "wait_until_done"]


class Pollable(Protocol):
    """What a wait needs to know of a resource."""

    @property
    def done(self) -> bool: ...


T = TypeVar("T", bound=Pollable)


def wait_until_done(
    fetch: Callable[[], T],
    *,
    label: str,
    percent: Callable[[T], float],
    describe: Callable[[T], str],
    timeout: float | None,
    poll: float,
    progress: bool,
    on_update: Callable[[T], None] | None = None,
) -> T:
    """Fetch until ``done``; raises :class:`WaitTimeout` after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if not progress:
        return _poll(fetch, deadline, poll, on_update, label)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    )
    with Progress(*columns, TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task(label, total=100)

        def show(item: T) -> None:
            bar.update(task, completed=percent(item), description=f"{label} {describe(item)}")
            if on_update is not None:
                on_update(item)

        final = _poll(fetch, deadline, poll, show, label)
        if getattr(final, "state", getattr(final, "status", "")) in ("succeeded", "success"):
            bar.update(task, completed=100)
        return final


def _poll(
    fetch: Callable[[], T],
    deadline: float | None,
    poll: float,
    on_update: Callable[[T], None] | None,
    label: str,
) -> T:
    while True:
        item = fetch()
        if on_update is not None:
            on_update(item)
        if item.done:
            return item
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"{label} is not done yet")
        time.sleep(poll)
