"""The dispatcher: sends outbox messages through the channel adapters, records each outcome.

Each message is a task of its own, so a slow or failing provider holds up only its own
messages. Each channel has room for a bounded number of tasks (some waiting out a retry
backoff), at most `HTTP_PER_CHANNEL` of them talking to the provider at once, under the
channel's token bucket; a channel without room is not read from the store until it has some,
so a provider that is down costs the other channels nothing.

Delivery is at least once: a message stays `pending` until the provider's answer is committed,
so after a crash it is sent again — with the same idempotency key, which providers that support
one use to drop the repeat (SPEC §5 "Delivery"). Outcomes are committed in groups (see
`journeyctl.daemon.db.GroupCommit`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import httpx

from channel_adapters import adapter_for
from channel_adapters.base import Message, Outcome
from channel_adapters.delivery import deliver
from channel_adapters.ratelimit import RateLimiter
from journeyctl import model as m
from journeyctl.daemon.core import Core
from journeyctl.daemon.db import CoreThread
from journeyctl.daemon.metrics import Metrics
from journeyctl.state.runtime import Delivery, OutboxRow

log = logging.getLogger("journeyctl.dispatch")
TASKS_PER_CHANNEL = 256  # messages a channel works on at once (sending, or between retries)
HTTP_PER_CHANNEL = 32  # of which talking to the provider


class Dispatcher:
    def __init__(self, core: CoreThread, metrics: Metrics, client: httpx.AsyncClient,
                 channels: Callable[[], dict[str, m.Channel]],
                 clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.metrics = metrics
        self.client = client
        self.channels = channels
        self.clock = clock
        self.wake = asyncio.Event()
        self.in_flight: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._tasks: dict[str, int] = {}  # channel -> tasks
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter | None] = {}
        self._adapters: dict[str, Any] = {}
        self._config: dict[str, m.Channel] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.wake.clear()
            room = {name: TASKS_PER_CHANNEL - self._tasks.get(name, 0)
                    for name in self.channels()}
            rows = await self.core.call(partial(_due, now=self.clock(), room=room,
                                                busy=list(self.in_flight)))
            for row in rows:
                self._tasks[row.channel] = self._tasks.get(row.channel, 0) + 1
                self.in_flight[row.id] = (row.channel, asyncio.create_task(self._send(row)))
            if not rows:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.2)
            else:
                await asyncio.sleep(0)
        await self.drain()

    async def drain(self) -> None:
        """Let the messages being delivered finish (graceful shutdown)."""
        if self.in_flight:
            await asyncio.gather(*(task for _, task in self.in_flight.values()),
                                 return_exceptions=True)

    def _adapter(self, channel: m.Channel) -> Any:
        if self._config.get(channel.name) is not channel:  # a new apply: build it again
            self._config[channel.name] = channel
            self._adapters[channel.name] = adapter_for(channel, self.client)
            self._limiters[channel.name] = RateLimiter.for_channel(channel)
        return self._adapters[channel.name]

    async def _send(self, row: OutboxRow) -> None:
        try:
            await self._deliver(row)
        except Exception:  # a bug must not kill the dispatcher: the message stays pending
            log.exception("delivery of outbox message %s failed unexpectedly", row.id)
        finally:
            self.in_flight.pop(row.id, None)
            self._tasks[row.channel] -= 1
            self.wake.set()

    async def _deliver(self, row: OutboxRow) -> None:
        payload = row.payload
        channel = self.channels().get(row.channel)
        if channel is None:
            await self._record(Delivery(row.id, "failed", 0,
                                        error=f"channel {row.channel} is not applied"))
            return
        max_delay = payload.get("max_delay")
        late = self.clock() - payload["time"]
        if max_delay is not None and late > max_delay:
            self.metrics.message(row.channel, "expired")
            await self._record(Delivery(row.id, "expired", 0, error=f"{late:.0f}s late, more "
                                        f"than max_delay {max_delay:.0f}s"))
            return
        if payload.get("error") or payload.get("content") is None:
            self.metrics.message(row.channel, "unsendable")
            await self._fail(row, payload.get("error") or "nothing to send", 0)
            return
        message = Message(row.user_id, row.journey, row.step, row.channel, row.template,
                          row.category, row.idempotency_key, payload.get("to"),
                          payload["content"], payload.get("variant"))
        slot = self._slots.setdefault(row.channel, asyncio.Semaphore(HTTP_PER_CHANNEL))
        async with slot:
            adapter = self._adapter(channel)
            started = time.perf_counter()
            outcome = await deliver(adapter, message, channel,
                                    limiter=self._limiters.get(row.channel))
            self.metrics.adapter_latency(row.channel, time.perf_counter() - started)
        await self._outcome(row, outcome)

    async def _outcome(self, row: OutboxRow, outcome: Outcome) -> None:
        self.metrics.message(row.channel, outcome.kind)
        if outcome.kind == "accepted":
            await self._record(Delivery(row.id, "sent", outcome.attempts, outcome.provider_id))
        elif outcome.kind == "retryable" and outcome.retry_after is not None:
            await self._record(Delivery(row.id, "pending", outcome.attempts,
                                        error=outcome.error,
                                        retry_at=self.clock() + outcome.retry_after))
        else:
            await self._fail(row, outcome.error or f"HTTP {outcome.status}", outcome.attempts)

    async def _fail(self, row: OutboxRow, error: str, attempts: int) -> None:
        """Failed for good: the next fallback channel takes over, if the send has one."""
        fallbacks = list(row.payload.get("fallbacks") or [])
        follow_up = None
        if fallbacks:
            option, rest = fallbacks[0], fallbacks[1:]
            number = int(row.payload.get("fallback_number", 0)) + 1
            base_key = row.idempotency_key.split("#")[0]
            follow_up = {**row.payload, **option, "fallbacks": rest, "fallback_number": number,
                         "idempotency_key": f"{base_key}#fallback{number}"}
            log.info("message %s failed (%s); falling back to %s", row.id, error,
                     option["channel"])
        await self._record(Delivery(row.id, "failed", attempts, error=error,
                                    follow_up=follow_up))

    async def _record(self, delivery: Delivery) -> None:
        await self.core.record(delivery)


def _due(core: Core, now: float, room: dict[str, int], busy: list[int]) -> list[OutboxRow]:
    return core.runtime.due_messages(now, room, busy)
