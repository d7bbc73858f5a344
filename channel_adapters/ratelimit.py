"""A per-channel token bucket: `rate_limit: 100/s` lets 100 sends through at once, then one
every 10 ms; the long-run rate never exceeds count / per."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from journeyctl.model import Channel


class RateLimiter:
    """`await limiter.acquire()` before each request; waiters are served in arrival order."""

    def __init__(self, count: int, per_seconds: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.rate = count / per_seconds  # tokens per second
        self.capacity = float(count)
        self._tokens = float(count)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()  # one waiter refills and sleeps at a time: FIFO fairness

    @classmethod
    def for_channel(cls, channel: Channel) -> RateLimiter | None:
        """The channel's limiter, or None when it has no `rate_limit`."""
        limit = channel.rate_limit
        return cls(limit.count, limit.per_seconds) if limit else None

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
                # The wait was for exactly one token: float rounding must not make it wait again.
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
