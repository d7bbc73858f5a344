"""The per-channel token bucket, on an injected clock: bursts up to `count`, then count/per."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from channel_adapters import RateLimiter
from journeyctl.model import RateLimit
from tests.support.adapters import make_channel


class Clock:
    """Time that passes only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def acquire_times(limiter: RateLimiter, clock: Clock, count: int) -> list[float]:
    async def go() -> list[float]:
        times = []
        for _ in range(count):
            await limiter.acquire()
            times.append(round(clock.now, 9))
        return times

    return asyncio.run(go())


def test_a_full_bucket_lets_a_burst_through_then_paces_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 1, clock=clock, sleep=clock.sleep)  # 2/s
    assert acquire_times(limiter, clock, 6) == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_an_idle_bucket_refills_only_up_to_its_capacity() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock, sleep=clock.sleep)  # 3/m
    acquire_times(limiter, clock, 3)
    clock.now = 3600.0  # an hour idle: still only 3 tokens
    assert acquire_times(limiter, clock, 4) == [3600.0, 3600.0, 3600.0, 3620.0]


def test_concurrent_senders_share_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 1, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(30)))

    asyncio.run(go())
    assert round(clock.now, 6) == 2.0  # 10 at once, then 20 more at 10/s


def test_the_channel_rate_limit_builds_the_bucket() -> None:
    channel = make_channel("webhook", "http://127.0.0.1:9/")
    assert RateLimiter.for_channel(channel) is None
    limited = RateLimiter.for_channel(replace(channel, rate_limit=RateLimit(100, 1, "100/s")))
    assert limited is not None and (limited.rate, limited.capacity) == (100.0, 100.0)
