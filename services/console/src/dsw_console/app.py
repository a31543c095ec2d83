"""The web console: server-rendered pages over the platform's public APIs.

It has no database and no events: every page is read from the APIs with the signed-in user's token,
so the console can never see more than that user may. ``/healthz`` says the process answers;
``/readyz`` says the APIs it needs answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from dsw_console import __version__
from dsw_console.pages import auth, datasets, operations, recipes, training
from dsw_console.session import SignInRequired, clear_session
from dsw_console.settings import ConsoleSettings
from dsw_console.upstream import ApiError, Problem, Upstreams
from dsw_console.views import is_htmx, render
from dsw_kit.errors import PROBLEM_JSON
from dsw_kit.logging import configure_logging
from dsw_kit.observability import RequestMiddleware

__all__ = ["UPLOAD_PREFIX", "create_app"]

STATIC = Path(__file__).parent / "static"
UPLOAD_PREFIX = "/uploads/"
logger = logging.getLogger("dsw.console")


def create_app(
    settings: ConsoleSettings | None = None,
    *,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> FastAPI:
    """The console's ASGI application (``transports`` reach in-process APIs in tests)."""
    settings = settings or ConsoleSettings()
    configure_logging(
        "console", level=settings.platform.log_level, json_lines=settings.platform.log_json
    )
    upstreams = Upstreams(settings.api_urls(), settings.call_timeout_seconds, transports)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info("console ready on %s:%d", settings.host, settings.port)
        try:
            yield
        finally:
            upstreams.close()

    app = FastAPI(
        title="DSW Console",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.upstreams = upstreams
    app.add_middleware(
        RequestMiddleware,
        service="console",
        max_body_bytes=settings.max_body_bytes,
        # Uploads stream to disk and check their own, larger limit.
        unlimited_prefixes=(UPLOAD_PREFIX,),
    )
    _install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(_health_router(settings, upstreams))
    for module in (auth, datasets, recipes, training, operations):
        app.include_router(module.router)
    return app


def _health_router(settings: ConsoleSettings, upstreams: Upstreams) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        checks = {
            name: "ok" if upstreams.reachable(name) else "unavailable"
            for name in settings.ready_requires
        }
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        problem = Problem(503, "Service Unavailable", "an API is unavailable", code="not_ready")
        return JSONResponse(
            {**problem.as_json(), "checks": checks}, status_code=503, media_type=PROBLEM_JSON
        )

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _problem_response(request: Request, problem: Problem) -> Response:
    # Problems of the APIs keep their 4xx status; the API's own failures become the console's 502.
    status = problem.status if 400 <= problem.status < 500 or problem.status == 503 else 502
    if _wants_json(request):
        return JSONResponse(problem.as_json(), status_code=status, media_type=PROBLEM_JSON)
    if is_htmx(request):
        # htmx swaps only 2xx answers by default: the fragment shows the problem in place.
        return render(request, "_problem.html", status_code=200, problem=problem)
    return render(request, "error.html", status_code=status, problem=problem)


def _sign_in_again(request: Request, expired: bool) -> Response:
    target = "/login?expired=1" if expired else f"/login?next={request.url.path}"
    if _wants_json(request):
        problem = Problem(401, "Unauthorized", "sign in to the console first", code="unauthorized")
        return JSONResponse(problem.as_json(), status_code=401, media_type=PROBLEM_JSON)
    response: Response
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if expired:
        clear_session(response)
    return response


def _install_error_pages(app: FastAPI) -> None:
    async def sign_in_required(request: Request, error: Exception) -> Response:
        return _sign_in_again(request, expired=False)

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        if error.problem.status == 401:
            return _sign_in_again(request, expired=True)
        return _problem_response(request, error.problem)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        title = HTTPStatus(error.status_code).phrase
        detail = error.detail if isinstance(error.detail, str) and error.detail != title else None
        if error.status_code == 404 and detail is None:
            detail = "there is no such page in the console"
        problem = Problem(error.status_code, title, detail, code=f"http_{error.status_code}")
        return _problem_response(request, problem)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [
            {"pointer": "/" + "/".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in error.errors()
        ]
        problem = Problem(
            422,
            "Unprocessable Entity",
            f"{len(errors)} invalid field(s) in the request",
            code="validation_failed",
            errors=errors,
        )
        return _problem_response(request, problem)

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(
            500, "Internal Server Error", "an unexpected error occurred; it has been logged"
        )
        return _problem_response(request, problem)

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
