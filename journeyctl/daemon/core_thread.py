"""The core thread: the one thread that owns the state store and the engine (see `core`).

The asyncio side hands it work with `call()` and awaits the result. Ingest requests and delivery
outcomes are group-committed: everything that arrives while the thread is busy waits for the
next flush, and one transaction makes all of it durable, so the cost of a commit is shared by
however many are waiting — the reason single-event requests can be acknowledged thousands of
times a second without giving up "202 means committed".
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from journeyctl.daemon.core import Core
from journeyctl.state.base import Clock, Delivery, Runtime

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Items submitted while the core thread is busy are handled together, in one call of
    `run_batch` (one transaction): callers wait for the commit, and share its cost."""

    def __init__(self, executor: ThreadPoolExecutor,
                 run_batch: Callable[[list[T]], Sequence[R | Exception]]) -> None:
        self._executor = executor
        self._run_batch = run_batch
        self._lock = threading.Lock()
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._queued = False

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._waiting.append((item, future))
            queue = not self._queued
            self._queued = True
        if queue:
            self._executor.submit(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
            self._queued = False
        try:
            results = self._run_batch([item for item, _ in waiting])
        except Exception as exc:  # the store failed: every waiting caller hears it
            for _, future in waiting:
                loop.call_soon_threadsafe(_fail, future, exc)
            return
        for (_, future), result in zip(waiting, results, strict=True):
            # an item `run_batch` could not handle is failed alone (its exception as result)
            if isinstance(result, BaseException):
                loop.call_soon_threadsafe(_fail, future, result)
            else:
                loop.call_soon_threadsafe(_resolve, future, result)


class CoreThread:
    def __init__(self, open_state: Callable[[], Runtime], clock: Clock = time.time,
                 observe_lag: Callable[[float], None] | None = None,
                 observe_failure: Callable[[Any], None] | None = None,
                 observe_counts: Callable[[Any], None] | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeyctl-core")
        self.clock = clock

        # SQLite connections belong to the thread that opened them: open it on the core thread.
        def start() -> Core:
            return Core(open_state(), clock=clock, observe_lag=observe_lag,
                        observe_failure=observe_failure, observe_counts=observe_counts)

        self.core: Core = self._executor.submit(start).result()
        self._ingest = GroupCommit(self._executor, self.core.ingest)
        self._deliveries = GroupCommit(self._executor, self.core.record_deliveries)

    async def call(self, fn: Callable[[Core], T]) -> T:
        return await asyncio.wrap_future(self._executor.submit(fn, self.core))

    async def ingest(self, events: list[dict[str, Any]]) -> tuple[int, int]:
        """Commit `events` to the inbox (with whatever else is waiting); (accepted,
        duplicates) once they are durable."""
        return await self._ingest.submit(events)

    async def record(self, delivery: Delivery) -> None:
        """Commit a delivery's outcome (with the others waiting)."""
        await self._deliveries.submit(delivery)

    def close(self) -> None:
        self._executor.submit(self.core.close).result()
        self._executor.shutdown(wait=True)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
