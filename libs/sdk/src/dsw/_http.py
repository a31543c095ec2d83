"""HTTP core shared by the resource groups: one httpx client per service, retries, problems."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from dsw.config import SERVICES, Config
from dsw.errors import TransportError, error_from_response

__all__ = ["AsyncHttp", "Body", "Http", "Transports"]

Transports = Mapping[str, httpx.BaseTransport] | httpx.BaseTransport | None
AsyncTransports = Mapping[str, httpx.AsyncBaseTransport] | httpx.AsyncBaseTransport | None
# A body to send: bytes, or a factory of chunks so a retried upload starts again from the top.
Body = bytes | Callable[[], Iterable[bytes]] | None

_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUS = frozenset({429, 502, 503, 504})


def retryable(method: str, headers: Mapping[str, str]) -> bool:
    """Idempotent methods, and POSTs whose Idempotency-Key makes a repeat harmless."""
    return method in _SAFE or "Idempotency-Key" in headers


def delay(config: Config, attempt: int, response: httpx.Response | None) -> float:
    """Exponential backoff with jitter; a Retry-After in seconds wins when it is sooner."""
    base: float = min(config.backoff * (2**attempt), 8.0) * (0.5 + random.random() / 2)
    if response is not None:
        after = response.headers.get("Retry-After", "")
        if after.isdigit():
            return min(float(after), 8.0)
    return base


def _pick(transports: Any, service: str) -> Any:
    if transports is None:
        return None
    if isinstance(transports, Mapping):
        return transports.get(service)
    return transports


class Http:
    """Synchronous requests to the services of one configuration."""

    def __init__(self, config: Config, transports: Transports = None) -> None:
        self.config = config
        self._transports = transports
        # One client per service, made on first use: each loads the TLS trust store (about
        # 0.1 s), and a command usually talks to one service.
        self._clients: dict[str, httpx.Client] = {}

    def _client(self, service: str) -> httpx.Client:
        client = self._clients.get(service)
        if client is None:
            if service not in SERVICES:
                raise KeyError(service)
            client = self._clients[service] = httpx.Client(
                base_url=self.config.urls[service],
                headers=self.config.headers(),
                timeout=self.config.timeout,
                transport=_pick(self._transports, service),
            )
        return client

    def close(self) -> None:
        """Close the connection pools."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Body = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        anonymous: bool = False,
    ) -> httpx.Response:
        """Send, retrying what is safe to retry; an error answer raises :class:`ApiError`.

        ``anonymous`` drops the bearer token (a call that carries an API key instead).
        """
        client = self._client(service)
        extra = dict(headers or {})
        allowed = self.config.retries if retryable(method, extra) else 0
        query = {key: value for key, value in (params or {}).items() if value is not None}
        for attempt in range(allowed + 1):
            body = content() if callable(content) else content
            try:
                request = client.build_request(
                    method,
                    path,
                    params=query,
                    json=json,
                    content=body,
                    headers=extra,
                    timeout=timeout or self.config.timeout,
                )
                if anonymous:
                    request.headers.pop("Authorization", None)
                response = client.send(request)
            except httpx.TransportError as error:
                if attempt >= allowed:
                    raise TransportError(
                        0, "service unreachable", f"{service}: {error!r}", url=path
                    ) from error
                time.sleep(delay(self.config, attempt, None))
                continue
            if response.status_code in _RETRY_STATUS and attempt < allowed:
                time.sleep(delay(self.config, attempt, response))
                continue
            if response.is_error:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises


class AsyncHttp:
    """Asynchronous requests to the services of one configuration."""

    def __init__(self, config: Config, transports: AsyncTransports = None) -> None:
        self.config = config
        self._clients = {
            service: httpx.AsyncClient(
                base_url=config.urls[service],
                headers=config.headers(),
                timeout=config.timeout,
                transport=_pick(transports, service),
            )
            for service in SERVICES
        }

    async def aclose(self) -> None:
        """Close the connection pools."""
        for client in self._clients.values():
            await client.aclose()

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send, retrying what is safe to retry; an error answer raises :class:`ApiError`."""
        client = self._clients[service]
        extra = dict(headers or {})
        allowed = self.config.retries if retryable(method, extra) else 0
        query = {key: value for key, value in (params or {}).items() if value is not None}
        for attempt in range(allowed + 1):
            try:
                response = await client.request(
                    method, path, params=query, json=json, content=content, headers=extra
                )
            except httpx.TransportError as error:
                if attempt >= allowed:
                    raise TransportError(
                        0, "service unreachable", f"{service}: {error!r}", url=path
                    ) from error
                await asyncio.sleep(delay(self.config, attempt, None))
                continue
            if response.status_code in _RETRY_STATUS and attempt < allowed:
                await asyncio.sleep(delay(self.config, attempt, response))
                continue
            if response.is_error:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises
