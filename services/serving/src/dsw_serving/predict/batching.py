"""Adaptive micro-batching: concurrent single-record requests to one revision share a booster call.

Off by default; a service turns it on with ``batching: {max_rows, max_wait_ms}``. A request
that joins an empty batch starts a timer of ``max_wait_ms``; the batch goes to the booster when
it holds ``max_rows`` rows or when the timer fires, whichever comes first, and each waiting
request gets its own row of the answer back. Under light load a request waits at most
``max_wait_ms``; under heavy load batches fill before the timer and the per-call overhead of the
booster is paid once per batch instead of once per request.

Only what happens after validation is shared: each request parses and validates its own record
(a bad record is that request's 422), keeps its own request id, invocation log record and
metrics. If the batched call raises, each row is predicted again alone, so only the requests
whose own row fails get the error (a 500) and the others their answers.

Everything runs on the event loop of the process (the batcher is not thread-safe and needs
none); a batch larger than ``inline_rows`` is predicted in the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import Histogram
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger("dsw.serving.batching")

Answer = tuple[np.ndarray, np.ndarray | None]
PredictFn = Callable[[dict[str, np.ndarray]], Answer]

MICROBATCH_SIZE = Histogram(
    "dsw_serving_microbatch_requests",
    "Requests answered by one booster call under micro-batching, by service and revision",
    ["org", "sandbox", "service", "revision"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)


@dataclass(frozen=True)
class BatchingPolicy:
    """A service's micro-batching settings."""

    max_rows: int
    max_wait_seconds: float

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> BatchingPolicy | None:
        """The policy stored on a service (None: micro-batching is off)."""
        if not stored:
            return None
        return cls(int(stored["max_rows"]), float(stored["max_wait_ms"]) / 1000.0)


@dataclass
class _Waiting:
    columns: dict[str, np.ndarray]
    future: asyncio.Future[Answer]


@dataclass
class MicroBatcher:
    """Gathers single-record requests to one revision's model into batches."""

    predict: PredictFn
    policy: BatchingPolicy
    labels: tuple[str, str, str, str]
    inline_rows: int = 64
    _waiting: list[_Waiting] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _size: Any = None

    def __post_init__(self) -> None:
        self._size = MICROBATCH_SIZE.labels(*self.labels)

    async def submit(self, columns: dict[str, np.ndarray]) -> Answer:
        """This record's (prediction, probabilities) once its batch has been predicted."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(columns, loop.create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self.policy.max_rows:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.policy.max_wait_seconds, self._flush)
        return await waiting.future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        self._size.observe(len(batch))
        task = asyncio.get_running_loop().create_task(self._answer(batch))
        # Keep a reference until done: the loop holds tasks only weakly.
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)

    async def _answer(self, batch: list[_Waiting]) -> None:
        columns = _stack([waiting.columns for waiting in batch])
        try:
            if len(batch) <= self.inline_rows:
                predictions, probabilities = self.predict(columns)
            else:
                predictions, probabilities = await run_in_threadpool(self.predict, columns)
        except Exception:
            logger.warning("a batch of %d failed; predicting its rows alone", len(batch))
            for waiting in batch:
                self._answer_alone(waiting)
            return
        for row, waiting in enumerate(batch):
            if not waiting.future.done():  # its request may have been cancelled
                waiting.future.set_result(
                    (
                        predictions[row : row + 1],
                        None if probabilities is None else probabilities[row : row + 1],
                    )
                )

    def _answer_alone(self, waiting: _Waiting) -> None:
        if waiting.future.done():
            return
        try:
            answer = self.predict(waiting.columns)
        except Exception as error:
            waiting.future.set_exception(error)
            return
        waiting.future.set_result(answer)


_RUNNING: set[asyncio.Task[None]] = set()


def _stack(records: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One column per field holding every record's value, in request order.

    A column whose records disagree on dtype (an integer field given a null in one request is
    float64 there) takes NumPy's common type, as one request with the same rows would.
    """
    if len(records) == 1:
        return records[0]
    return {name: np.concatenate([record[name] for record in records]) for name in records[0]}
