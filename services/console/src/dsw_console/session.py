"""The signed-in user: a bearer token and a chosen sandbox, kept in HttpOnly cookies.

The console never verifies the token itself (the APIs do, on every call); it only reads its claims
to show who is signed in, in which organisation, and which sandboxes they may switch to. The cookies
are HttpOnly (no script can read the token) and SameSite=Strict (no other site can make the browser
send them, which is what protects the console's forms from cross-site requests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request, Response

from dsw_console.settings import ConsoleSettings
from dsw_console.upstream import Api, Upstreams

__all__ = [
    "SANDBOX_COOKIE",
    "TOKEN_COOKIE",
    "Session",
    "SignInRequired",
    "api_for",
    "claims_of",
    "clear_session",
    "current_session",
    "read_session",
    "start_session",
]

TOKEN_COOKIE = "dsw_console_token"
SANDBOX_COOKIE = "dsw_console_sandbox"
DEFAULT_SANDBOX = "prod"


class SignInRequired(Exception):
    """The request needs a signed-in user and has none (or the token expired)."""


@dataclass(frozen=True)
class Session:
    """Who is signed in, and where they act."""

    token: str
    subject: str
    org: str | None
    sandboxes: tuple[str, ...]
    sandbox: str
    expires: int | None

    @property
    def any_sandbox(self) -> bool:
        """Whether the token grants every sandbox of the organisation."""
        return "*" in self.sandboxes


def claims_of(token: str) -> dict[str, Any] | None:
    """The claims of a JWT read without checking its signature; ``None`` if it is not one."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def read_session(request: Request) -> Session | None:
    """The session of ``request``, if a (not yet expired) token is in its cookies."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    claims = claims_of(token)
    if claims is None:
        return None
    expires = claims.get("exp")
    if isinstance(expires, int) and expires < time.time():
        return None
    raw_sandboxes = claims.get("sandboxes") or [claims.get("sandbox", DEFAULT_SANDBOX)]
    sandboxes = tuple(str(name) for name in raw_sandboxes)
    default = str(claims.get("sandbox") or DEFAULT_SANDBOX)
    chosen = request.cookies.get(SANDBOX_COOKIE) or default
    if "*" not in sandboxes and chosen not in sandboxes:
        chosen = default
    return Session(
        token=token,
        subject=str(claims.get("sub", "?")),
        org=str(claims["org"]) if claims.get("org") else None,
        sandboxes=sandboxes,
        sandbox=chosen,
        expires=expires if isinstance(expires, int) else None,
    )


def current_session(request: Request) -> Session:
    """FastAPI dependency: the signed-in user's session, or :class:`SignInRequired`."""
    session = read_session(request)
    if session is None:
        raise SignInRequired()
    request.state.session = session
    return session


def api_for(request: Request) -> Api:
    """FastAPI dependency: the platform's APIs as the signed-in user."""
    session = current_session(request)
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams.as_user(session.token, session.sandbox)


def start_session(
    response: Response, token: str, sandbox: str | None, settings: ConsoleSettings
) -> None:
    """Store the token (and sandbox) in the browser as HttpOnly, SameSite=Strict cookies."""
    claims = claims_of(token) or {}
    expires = claims.get("exp")
    max_age = max(int(expires - time.time()), 0) if isinstance(expires, int) else None
    for name, value in ((TOKEN_COOKIE, token), (SANDBOX_COOKIE, sandbox)):
        if value:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                httponly=True,
                samesite="strict",
                secure=settings.cookie_secure,
                path="/",
            )


def choose_sandbox(response: Response, sandbox: str, settings: ConsoleSettings) -> None:
    """Remember the sandbox the user switched to."""
    response.set_cookie(
        SANDBOX_COOKIE,
        sandbox,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )


def clear_session(response: Response) -> None:
    """Forget the token and sandbox."""
    response.delete_cookie(TOKEN_COOKIE, path="/")
    response.delete_cookie(SANDBOX_COOKIE, path="/")
