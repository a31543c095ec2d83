"""Rendering: Jinja2 templates, the navigation, formatting filters and problem pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dsw_console.session import read_session
from dsw_console.upstream import ApiError, Problem

__all__ = ["NAV", "attempt", "is_htmx", "render", "templates"]

T = TypeVar("T")

NAV = [
    ("datasets", "Datasets", "/datasets"),
    ("recipes", "Recipes", "/recipes"),
    ("models", "Models & training", "/models"),
    ("scoring", "Scoring runs", "/scoring"),
    ("services", "Services", "/services"),
    ("schedules", "Schedules", "/schedules"),
]
FINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_BATCH_STATES = frozenset({"loading", "processing"})


def _when(value: Any) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _bytes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(when=_when, number=_number, bytes=_bytes, percent=_percent)
templates.env.globals.update(
    nav=NAV, final_run_states=FINAL_RUN_STATES, active_batch_states=ACTIVE_BATCH_STATES
)


def is_htmx(request: Request) -> bool:
    """Whether htmx made the request (it then wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` rendered with the session, settings and ``context``."""
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        template,
        {
            "session": read_session(request),
            "dev_login": settings.dev_login_enabled,
            "mlflow_url": settings.mlflow_url.rstrip("/"),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


def attempt(call: Callable[[], T]) -> tuple[T | None, Problem | None]:
    """The result of an API call, or the problem it answered, for pages that show either."""
    try:
        return call(), None
    except ApiError as error:
        if error.problem.status == 401:
            raise  # the session is over: sign in again rather than show a panel
        return None, error.problem
