"""Signing in (a pasted token, or the dev login), switching sandbox, signing out."""

from __future__ import annotations

import re

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dsw_console.session import (
    choose_sandbox,
    claims_of,
    clear_session,
    read_session,
    start_session,
)
from dsw_console.settings import ConsoleSettings
from dsw_console.upstream import ApiError, Problem, Upstreams
from dsw_console.views import attempt, render
from dsw_kit.auth import Authenticator, all_scopes

router = APIRouter(include_in_schema=False)
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _safe_next(target: str | None) -> str:
    # Only paths of this console: never redirect a user to another site after sign-in.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/datasets"


def _settings(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/datasets" if read_session(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/datasets", expired: bool = False) -> Response:
    message = "Your session has ended; please sign in again." if expired else None
    return render(request, "login.html", next=_safe_next(next), message=message, problem=None)


def _login_refused(request: Request, next: str, problem: Problem) -> Response:
    return render(
        request, "login.html", status_code=400, next=_safe_next(next), message=None, problem=problem
    )


@router.post("/login")
def login(request: Request, token: str = Form(...), next: str = Form("/datasets")) -> Response:
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if claims_of(token) is None:
        problem = Problem(400, "Not a token", "paste a JWT (three dot-separated parts)")
        return _login_refused(request, next, problem)
    # The console cannot check the signature; the catalog can. A token it refuses is refused here.
    upstreams: Upstreams = request.app.state.upstreams
    _, refusal = _check_token(upstreams, token)
    if refusal is not None and refusal.status in (401, 403):
        return _login_refused(request, next, refusal)
    response = RedirectResponse(_safe_next(next), status_code=303)
    start_session(response, token, None, _settings(request))
    return response


def _check_token(upstreams: Upstreams, token: str) -> tuple[object, Problem | None]:
    api = upstreams.as_user(token, None)
    try:
        return attempt(lambda: api.get("catalog", "/catalog/v1/datasets", limit=1))
    except ApiError as error:  # attempt re-raises 401 for pages; here it is the answer
        return None, error.problem


@router.post("/login/dev")
def dev_login(
    request: Request, org: str = Form("default"), next: str = Form("/datasets")
) -> Response:
    settings = _settings(request)
    if not settings.dev_login_enabled:
        problem = Problem(403, "Forbidden", "the dev login is turned off in this deployment")
        return _login_refused(request, next, problem)
    if not _TENANT_NAME.match(org):
        problem = Problem(
            422,
            "Unprocessable Entity",
            "invalid organisation name",
            errors=[{"pointer": "/form/org", "message": "letters, digits, . _ - (max 64)"}],
        )
        return _login_refused(request, next, problem)
    # The same token `dsw token` prints: every scope, every sandbox of the organisation.
    issuer = Authenticator(settings.platform.auth, settings.platform.resolved_home).issuer()
    token = issuer.issue(
        "dev",
        all_scopes(),
        org_id=org,
        sandboxes=("*",),
        ttl_seconds=settings.dev_token_ttl_seconds,
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    start_session(response, token, "prod", settings)
    return response


@router.post("/sandbox")
def switch_sandbox(
    request: Request, sandbox: str = Form(...), back: str = Form("/datasets")
) -> Response:
    session = read_session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    allowed = session.any_sandbox or sandbox in session.sandboxes
    if not _TENANT_NAME.match(sandbox) or not allowed:
        problem = Problem(403, "Forbidden", f"your token does not grant the sandbox {sandbox!r}")
        return render(request, "error.html", status_code=403, problem=problem)
    # Resources differ per sandbox: a detail page of the old one would be a 404 in the new one.
    section = "/" + _safe_next(back).strip("/").split("/")[0]
    response = RedirectResponse(section, status_code=303)
    choose_sandbox(response, sandbox, _settings(request))
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response
