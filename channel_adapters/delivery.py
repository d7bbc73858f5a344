"""The delivery policy every adapter shares: timeout, retries with backoff, rate limit.

One message, several attempts at most `retry.attempts`; each attempt carries the same message,
so the same idempotency key. The wait before attempt n+1 is `backoff * 2**(n-1)` capped at
`max_backoff`, with "equal jitter" (between half and all of it, so that many messages failing
together do not retry together), and never shorter than the provider's `Retry-After`.

These are the quick retries of one delivery. The daemon goes on past them: a message still
failing for a retryable reason waits in its outbox and is delivered again later, on the same
backoff (`retry_wait`), until its deadline (see `journeyctl.daemon.dispatch`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Literal

from channel_adapters.base import Adapter, Message, Outcome
from channel_adapters.ratelimit import RateLimiter
from journeyctl.model import Channel, Retry


async def deliver(adapter: Adapter, message: Message, channel: Channel, *,
                  sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                  rng: Callable[[], float] = random.random,
                  limiter: RateLimiter | None = None,
                  observe: Callable[[Outcome], object] | None = None) -> Outcome:
    """Send `message` until it is accepted, fails for good, or the attempts run out; the
    outcome counts the attempts made. `observe` sees the outcome of every attempt (the
    daemon's channel health and failure counters).

    A provider asking to wait longer than `max_backoff` ends the attempts early: the outcome
    is retryable with its `retry_after`, for the caller to schedule rather than sleep on.
    """
    policy = channel.retry
    attempt = 1
    while True:
        if limiter is not None:
            await limiter.acquire()
        outcome = await _attempt(adapter, message, channel.timeout.seconds)
        if observe is not None:
            observe(outcome)
        if outcome.kind != "retryable" or attempt >= policy.attempts:
            return replace(outcome, attempts=attempt)
        delay = backoff_delay(policy, attempt, outcome.retry_after, rng)
        if delay is None:
            return replace(outcome, attempts=attempt)
        await sleep(delay)
        attempt += 1


def backoff_delay(policy: Retry, attempt: int, retry_after: float | None,
                  rng: Callable[[], float]) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None: do not wait here."""
    if retry_after is not None and retry_after > policy.max_backoff.seconds:
        return None
    return retry_wait(policy, attempt, retry_after, rng)


def retry_wait(policy: Retry, step: int, retry_after: float | None,
               rng: Callable[[], float]) -> float:
    """Seconds to wait before try number `step + 1`: `backoff * 2**(step-1)` capped at
    `max_backoff`, with equal jitter, and never less than the provider's `Retry-After` (which
    may be longer than `max_backoff`)."""
    cap = float(policy.max_backoff.seconds)
    base = min(cap, policy.backoff.seconds * 2.0 ** min(step - 1, 60))  # no float overflow
    jittered = base * (0.5 + rng() / 2)
    return max(jittered, retry_after or 0.0)


FailureClass = Literal["http_5xx", "http_429", "http_other", "timeout", "connection"]


def failure_class(outcome: Outcome) -> FailureClass:
    """What kind of retryable failure an outcome is, for metrics and the channel's health."""
    if outcome.status is not None:
        if outcome.status >= 500:
            return "http_5xx"
        return "http_429" if outcome.status == 429 else "http_other"
    if (outcome.error or "").startswith(("timed out", "ReadTimeout", "ConnectTimeout",
                                         "WriteTimeout", "PoolTimeout")):
        return "timeout"
    return "connection"


def failure_summary(outcome: Outcome) -> str:
    """A few words for a failed attempt (`HTTP 500`, `cannot connect`), for a health report."""
    error = outcome.error or ""
    if outcome.status is not None:
        return f"HTTP {outcome.status}"
    if failure_class(outcome) == "timeout":
        return "timeouts"
    return "cannot connect" if error.startswith("ConnectError") else "connection lost"


async def _attempt(adapter: Adapter, message: Message, timeout: float) -> Outcome:
    """One send under the channel's timeout, which bounds the whole exchange (connect, upload,
    a provider trickling its answer), not just each read."""
    try:
        async with asyncio.timeout(timeout):
            return await adapter.send(message)
    except TimeoutError:
        return Outcome("retryable", None, None, f"timed out after {timeout:g}s", None)
