"""The asynchronous client: the same services from ``asyncio`` code (notebooks, web apps).

It offers the HTTP verbs per service, pagination as ``async for``, the wait helpers and
``read_dataset``; resource-specific helpers live on the synchronous :class:`dsw.Client`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from dsw._http import AsyncHttp, AsyncTransports
from dsw.config import Config
from dsw.errors import WaitTimeout
from dsw.models import Batch, Record, Run, ScoringRun, Sweep

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AsyncClient"]

R = TypeVar("R", Batch, Run, Sweep, ScoringRun)


class AsyncClient:
    """Asynchronous client of the platform (``transports`` reach in-process apps in tests)."""

    def __init__(
        self, config: Config | None = None, *, transports: AsyncTransports = None, **overrides: Any
    ) -> None:
        self.config = config or Config.load(**overrides)
        self.http = AsyncHttp(self.config, transports)

    async def get(self, service: str, path: str, **params: Any) -> Any:
        """GET a JSON document."""
        return (await self.http.request(service, "GET", path, params=params)).json()

    async def post(
        self,
        service: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> Any:
        """POST JSON with an Idempotency-Key (generated unless given), so retries are safe."""
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        response = await self.http.request(
            service, "POST", path, json=dict(body or {}), headers=headers
        )
        return response.json() if response.content else None

    async def delete(self, service: str, path: str) -> None:
        """DELETE a resource."""
        await self.http.request(service, "DELETE", path)

    async def paginate(self, service: str, path: str, **params: Any) -> AsyncIterator[Record]:
        """Every item of a list, page after page."""
        query: dict[str, Any] = {"limit": 100, **params}
        while True:
            page = await self.get(service, path, **query)
            for item in page["items"]:
                yield Record(item)
            if not page.get("next"):
                return
            query["cursor"] = page["next"]

    async def read_dataset(self, dataset_id: str, columns: list[str] | None = None) -> pa.Table:
        """A catalog dataset as a ``pyarrow.Table``, read from the lake on a worker thread."""
        from dsw_kit.lake import open_files

        files = await self.get("catalog", f"/catalog/v1/datasets/{dataset_id}/files")
        uris = [str(item["uri"]) for item in files]
        return await asyncio.to_thread(lambda: open_files(uris).to_table(columns=columns))

    async def _wait(
        self, kind: type[R], service: str, path: str, timeout: float | None, poll: float
    ) -> R:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = kind(await self.get(service, path))
            if item.done:
                return item
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"{path} is not done yet")
            await asyncio.sleep(poll)

    async def wait_for_batch(
        self, batch_id: str, *, timeout: float | None = 600, poll: float = 0.5
    ) -> Batch:
        """Wait until an ingestion batch is over."""
        return await self._wait(Batch, "catalog", f"/catalog/v1/batches/{batch_id}", timeout, poll)

    async def wait_for_run(
        self, run_id: str, *, timeout: float | None = 3600, poll: float = 1.0
    ) -> Run:
        """Wait until a training run is over."""
        return await self._wait(Run, "training", f"/training/v1/runs/{run_id}", timeout, poll)

    async def wait_for_sweep(
        self, sweep_id: str, *, timeout: float | None = 7200, poll: float = 1.0
    ) -> Sweep:
        """Wait until a sweep is over."""
        return await self._wait(Sweep, "training", f"/training/v1/sweeps/{sweep_id}", timeout, poll)

    async def wait_for_scoring(
        self, run_id: str, *, timeout: float | None = 3600, poll: float = 0.5
    ) -> ScoringRun:
        """Wait until a scoring run is over."""
        return await self._wait(ScoringRun, "scoring", f"/scoring/v1/runs/{run_id}", timeout, poll)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
