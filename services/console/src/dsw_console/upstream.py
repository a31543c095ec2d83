"""Calls to the platform's public APIs, as the signed-in user.

Every call carries the user's bearer token and chosen sandbox. An error answer becomes an
:class:`ApiError` holding the API's problem+json (title, detail, field errors), so that pages can
show it as a readable message; an API that cannot be reached becomes a 503 problem of the same kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from dsw_kit.logging import current_request_id

__all__ = ["Api", "ApiError", "Problem", "Upstreams"]


@dataclass
class Problem:
    """An RFC 9457 problem as the console shows it."""

    status: int
    title: str
    detail: str | None = None
    code: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    service: str | None = None

    @property
    def unavailable(self) -> bool:
        """Whether the API could not be reached or has no such endpoint yet."""
        return self.status in (502, 503, 504) or self.code in ("unreachable", "not_deployed")

    def field_errors(self, prefix: str = "/body/") -> dict[str, str]:
        """Messages by field path (the pointer without ``prefix``), for inline form errors."""
        messages: dict[str, str] = {}
        for error in self.errors:
            pointer = str(error.get("pointer", ""))
            if pointer.startswith(prefix):
                messages[pointer[len(prefix) :]] = str(error.get("message", "invalid"))
        return messages

    def as_json(self) -> dict[str, Any]:
        """The problem as a problem+json body."""
        body: dict[str, Any] = {"title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.code:
            body["code"] = self.code
            body["type"] = f"https://dsw.dev/problems/{self.code}"
        if self.errors:
            body["errors"] = self.errors
        return body


class ApiError(Exception):
    """A platform API answered with an error (or could not be reached)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem


def _problem_of(service: str, response: httpx.Response) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Problem(
            status=response.status_code,
            title=response.reason_phrase or "Error",
            detail=f"the {service} API answered {response.status_code}",
            service=service,
        )
    raw_errors = body.get("errors")
    errors: list[Any] = raw_errors if isinstance(raw_errors, list) else []
    problem = Problem(
        status=int(body.get("status") or response.status_code),
        title=str(body.get("title") or response.reason_phrase or "Error"),
        detail=str(body["detail"]) if body.get("detail") else None,
        code=str(body["code"]) if body.get("code") else None,
        errors=[
            {key: str(value) for key, value in error.items()}
            for error in errors
            if isinstance(error, dict)
        ],
        service=service,
    )
    if response.status_code == 404 and (problem.code is None or not body.get("detail")):
        # A 404 without detail is the router's (a missing resource always names itself): the
        # route does not exist, so this deployment does not offer that API (yet).
        problem.code = "not_deployed"
        problem.detail = f"the {service} service does not offer this API in this deployment"
    return problem


def _add_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


class Upstreams:
    """One pooled HTTP client per platform API (``transports`` reach in-process apps in tests)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        timeout_seconds: float,
        transports: Mapping[str, httpx.BaseTransport] | None = None,
    ) -> None:
        transports = transports or {}
        self.clients = {
            name: httpx.Client(
                base_url=url,
                timeout=timeout_seconds,
                transport=transports.get(name),
                event_hooks={"request": [_add_request_id]},
            )
            for name, url in urls.items()
        }

    def close(self) -> None:
        """Close every client's connections."""
        for client in self.clients.values():
            client.close()

    def reachable(self, service: str) -> bool:
        """Whether ``service`` answers its liveness endpoint."""
        try:
            return self.clients[service].get("/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def as_user(self, token: str, sandbox: str | None) -> Api:
        """An API caller acting as the holder of ``token`` in ``sandbox``."""
        headers = {"Authorization": f"Bearer {token}"}
        if sandbox:
            headers["x-sandbox-name"] = sandbox
        return Api(self.clients, headers)


class Api:
    """Calls the platform's APIs with one user's credentials."""

    def __init__(self, clients: Mapping[str, httpx.Client], headers: Mapping[str, str]) -> None:
        self._clients = clients
        self._headers = dict(headers)

    def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The API's answer; :class:`ApiError` unless it is a success."""
        client = self._clients[service]
        try:
            response = client.request(
                method,
                path,
                params=params,  # type: ignore[arg-type]
                json=json,
                content=content,
                headers={**self._headers, **(headers or {})},
            )
        except httpx.HTTPError as error:
            raise ApiError(
                Problem(
                    status=503,
                    title="Service Unavailable",
                    detail=f"the {service} service cannot be reached ({type(error).__name__})",
                    code="unreachable",
                    service=service,
                )
            ) from error
        if not response.is_success:
            raise ApiError(_problem_of(service, response))
        return response

    def get(self, service: str, path: str, **params: Any) -> Any:
        """The JSON body of a GET (``None`` parameters are left out)."""
        query = {key: value for key, value in params.items() if value is not None}
        return self.request(service, "GET", path, params=query).json()

    def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The JSON body of a POST of ``body`` (``None`` for an empty answer)."""
        response = self.request(service, "POST", path, json=body, **kwargs)
        return response.json() if response.content else None
