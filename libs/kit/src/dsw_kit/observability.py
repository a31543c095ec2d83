"""Request ids, Prometheus metrics and body-size limits as one ASGI middleware."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsw_kit.logging import new_request_id, request_id_var

__all__ = ["REQUESTS", "REQUEST_SECONDS", "RequestMiddleware"]

REQUESTS = Counter(
    "dsw_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "dsw_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
logger = logging.getLogger("dsw.http")
_PROBLEM_413 = (
    b'{"type":"https://dsw.dev/problems/payload_too_large","title":"Payload Too Large",'
    b'"status":413,"code":"payload_too_large","detail":"the request body is too large"}'
)


class RequestMiddleware:
    """Tags each request with an id (``x-request-id``), times it, and caps its body size.

    ``body_limit_for(path)`` returns the byte limit of a path (``None`` = unlimited, for streamed
    uploads that enforce their own limits).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        unlimited_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.unlimited_prefixes = unlimited_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        limited = (
            not scope["path"].startswith(self.unlimited_prefixes)
            if self.unlimited_prefixes
            else True
        )

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            if limited and self._declared_too_large(scope):
                await self._reject_too_large(send_with_id)
                return
            receive_limited = self._limit(receive) if limited else receive
            await self.app(scope, receive_limited, send_with_id)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(self.service, scope["method"], route_path, str(status)).inc()
            REQUEST_SECONDS.labels(self.service, scope["method"], route_path).observe(elapsed)
            request_id_var.reset(token)

    def _declared_too_large(self, scope: Scope) -> bool:
        length = _header(scope, b"content-length")
        return length is not None and length.isdigit() and int(length) > self.max_body_bytes

    def _limit(self, receive: Receive) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # An HTTPException passes through FastAPI's body parsing untouched and is
                    # rendered as problem+json by the kit's handler.
                    raise HTTPException(413, "the request body is too large")
            return message

        return limited_receive

    @staticmethod
    async def _reject_too_large(send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(_PROBLEM_413)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _PROBLEM_413})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
