"""Exceptions of the SDK: an RFC 9457 problem answer becomes one of these, never a bare status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations: the CLI's error handling must not load the HTTP stack
    import httpx

__all__ = [
    "ApiError",
    "Conflict",
    "FieldError",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "WaitTimeout",
    "error_from_response",
]


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a JSON pointer into the request and what is wrong with it."""

    pointer: str
    message: str
    code: str = ""

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}" if self.pointer else self.message


class ApiError(Exception):
    """A service refused or failed a request (its problem+json answer)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        code: str = "",
        errors: list[FieldError] | None = None,
        url: str = "",
        problem: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.errors = errors or []
        self.url = url
        self.problem = problem or {}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line for people: status, title, detail and the field errors."""
        # Status 0: no answer at all (the service was unreachable).
        text = f"{self.status} {self.title}" if self.status else self.title
        if self.detail and self.detail != self.title:
            text += f": {self.detail}"
        if self.errors:
            text += " (" + "; ".join(str(error) for error in self.errors) + ")"
        return text


class Unauthorized(ApiError):
    """401: no token, or an expired or invalid one."""


class Forbidden(ApiError):
    """403: the token lacks a scope or the tenant."""


class NotFound(ApiError):
    """404: no such resource (in this organisation and sandbox)."""


class Conflict(ApiError):
    """409: the resource's state forbids the request (a name taken, a run finished...)."""


class PreconditionFailed(ApiError):
    """412: ``If-Match`` named a version that is no longer current."""


class ValidationError(ApiError):
    """400/422: the request is invalid; ``errors`` lists the fields."""


class ServiceUnavailable(ApiError):
    """502/503/504 after the retries ran out."""


class TransportError(ApiError):
    """The service could not be reached at all (refused, timed out) after the retries."""


class WaitTimeout(TimeoutError):
    """A wait helper gave up before the resource reached a final state."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationError,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error response (any body; problem+json gives the details)."""
    problem = _problem(response)
    status = response.status_code
    title = str(problem.get("title") or response.reason_phrase or "error")
    detail = problem.get("detail")
    if detail is None and not problem:
        detail = response.text[:200] or None
    errors = [
        FieldError(
            str(item.get("pointer", "")), str(item.get("message", "")), str(item.get("code", ""))
        )
        for item in problem.get("errors") or []
        if isinstance(item, dict)
    ]
    kind = _BY_STATUS.get(status, ApiError)
    return kind(
        status,
        title,
        None if detail is None else str(detail),
        code=str(problem.get("code", "")),
        errors=errors,
        url=str(response.request.url) if response.request else "",
        problem=problem,
    )
