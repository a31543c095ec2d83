"""Errors rendered as RFC 9457 problem details.

Hierarchy::

    ProblemError                 status, stable code, title, detail, field errors
    ├── BadRequest               400  bad_request
    ├── Unauthorized             401  unauthorized
    ├── Forbidden                403  forbidden
    ├── NotFound                 404  not_found
    ├── Conflict                 409  conflict
    ├── Gone                     410  gone
    ├── PreconditionFailed       412  precondition_failed
    ├── PreconditionRequired     428  precondition_required
    ├── PayloadTooLarge          413  payload_too_large
    ├── UnprocessableEntity      422  validation_failed
    └── ServiceUnavailable       503  service_unavailable

Handlers installed by :func:`install_problem_handlers` render these, FastAPI's request validation
errors (each field listed), Starlette's HTTP errors, database outages (503) and anything unexpected
(500 without a stack trace) as ``application/problem+json``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError, TimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "Problem",
    "ProblemError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnprocessableEntity",
    "install_problem_handlers",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://dsw.dev/problems/"
logger = logging.getLogger("dsw.errors")


class FieldError(BaseModel):
    """One invalid field: a JSON Pointer into the request and what is wrong with it."""

    pointer: str = Field(description="JSON Pointer to the field, e.g. /body/name or /query/limit")
    message: str
    code: str = Field(default="invalid", description="Stable machine code of the rule broken")


class Problem(BaseModel):
    """RFC 9457 problem details (the body of every error response)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="Stable machine-readable error code")
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Base of every error the API returns on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.instance_code = code or self.code

    def to_problem(self, instance: str | None = None) -> Problem:
        """The problem document of this error."""
        return Problem(
            type=_TYPE_BASE + self.instance_code,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            code=self.instance_code,
            errors=self.errors,
        )


class BadRequest(ProblemError):
    status, code, title = 400, "bad_request", "Bad Request"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="dsw"'})
        super().__init__(detail, **kwargs)


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not Found"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(ProblemError):
    status, code, title = 410, "gone", "Gone"


class PreconditionFailed(ProblemError):
    status, code, title = 412, "precondition_failed", "Precondition Failed"


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class UnprocessableEntity(ProblemError):
    status, code, title = 422, "validation_failed", "Unprocessable Entity"


class PreconditionRequired(ProblemError):
    status, code, title = 428, "precondition_required", "Precondition Required"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "service_unavailable", "Service Unavailable"


def _render(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _pointer(location: tuple[int | str, ...] | list[int | str]) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in location)


async def _problem_error_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return _render(error.to_problem(request.url.path), error.headers)


async def _validation_error_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    field_errors = [
        FieldError(pointer=_pointer(item["loc"]), message=item["msg"], code=item["type"])
        for item in error.errors()
    ]
    problem = UnprocessableEntity(
        f"{len(field_errors)} invalid field(s) in the request", errors=field_errors
    ).to_problem(request.url.path)
    return _render(problem)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    from http import HTTPStatus

    title = HTTPStatus(error.status_code).phrase
    code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
    detail = error.detail if isinstance(error.detail, str) and error.detail != title else None
    problem = Problem(
        type=_TYPE_BASE + code,
        title=title,
        status=error.status_code,
        detail=detail,
        instance=request.url.path,
        code=code,
    )
    return _render(problem, dict(error.headers or {}))


async def _stale_data_handler(request: Request, error: Exception) -> JSONResponse:
    problem = PreconditionFailed(
        "the resource was changed by another request; read it again and retry"
    ).to_problem(request.url.path)
    return _render(problem)


async def _database_unavailable_handler(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", type(error).__name__)
    problem = ServiceUnavailable(
        "the database is unavailable; retry shortly", code="database_unavailable"
    ).to_problem(request.url.path)
    return _render(problem, {"Retry-After": "2"})


async def _unstorable_value_handler(request: Request, error: Exception) -> JSONResponse:
    # The database refused a value that passed validation (a NUL byte in a text filter on
    # PostgreSQL, a number out of its column's range): the client's input, not a server fault.
    logger.info("database refused a request value: %s", type(error.__cause__).__name__)
    problem = BadRequest(
        "a value in the request cannot be stored or searched (e.g. it contains a NUL byte)",
        code="unstorable_value",
    ).to_problem(request.url.path)
    return _render(problem)


async def _unexpected_error_handler(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    problem = ProblemError("an unexpected error occurred; it has been logged").to_problem(
        request.url.path
    )
    return _render(problem)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as ``application/problem+json``."""
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(StaleDataError, _stale_data_handler)
    app.add_exception_handler(OperationalError, _database_unavailable_handler)
    app.add_exception_handler(TimeoutError, _database_unavailable_handler)
    app.add_exception_handler(InterfaceError, _database_unavailable_handler)
    app.add_exception_handler(DataError, _unstorable_value_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json for the given statuses."""
    from http import HTTPStatus

    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
