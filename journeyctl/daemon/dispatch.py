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
from journeyctl.daemon.logs import Watch
from journeyctl.daemon.metrics import Metrics
from journeyctl.diagnostics import JourneyctlError
from journeyctl.state.runtime import Delivery, OutboxRow

log = logging.getLogger("journeyctl.dispatch")
TASKS_PER_CHANNEL = 256  # messages a channel works on at once (sending, or between retries)
HTTP_PER_CHANNEL = 32  # of which talking to the provider
HOLD_FIRST, HOLD_CAP = 0.5, 30.0  # seconds a message that failed unexpectedly waits (doubling)
RECORD_ATTEMPTS = 5  # tries to commit an outcome (0.5 + 1 + 2 + 4 s apart) before giving up


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
        self._broken: dict[str, tuple[m.Channel, str]] = {}  # channel -> (object, why)
        self._held: dict[int, tuple[float, int]] = {}  # row -> (not before, failures)
        self.watch = Watch("the dispatcher", log)  # reading the outbox
        self.sends = Watch("delivery", log)  # unexpected failures of single messages

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.wake.clear()
            try:
                rows = await self._due()
            except Exception as exc:  # the store failed (locked, disk): try again, later
                delay = self.watch.failed(exc, "reading the outbox")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                continue
            self.watch.succeeded()
            for row in rows:
                self._tasks[row.channel] = self._tasks.get(row.channel, 0) + 1
                self.in_flight[row.id] = (row.channel, asyncio.create_task(self._send(row)))
            if not rows:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.2)
            else:
                await asyncio.sleep(0)
        await self.drain()

    async def _due(self) -> list[OutboxRow]:
        now = self.clock()
        room = {name: TASKS_PER_CHANNEL - self._tasks.get(name, 0) for name in self.channels()}
        held = [row_id for row_id, (until, _) in self._held.items() if until > now]
        return await self.core.call(partial(_due, now=now, room=room,
                                            busy=[*self.in_flight, *held]))

    async def drain(self) -> None:
        """Let the messages being delivered finish (graceful shutdown)."""
        if self.in_flight:
            await asyncio.gather(*(task for _, task in self.in_flight.values()),
                                 return_exceptions=True)

    def _adapter(self, channel: m.Channel) -> Any:
        """The channel's adapter, built again when an apply changed the channel; raises
        Unsendable when it cannot be built (a credential missing from the environment: an
        apply added the channel after the start-up check)."""
        if self._config.get(channel.name) is not channel:  # a new apply: build it again
            broken = self._broken.get(channel.name)
            if broken is not None and broken[0] is channel:
                raise Unsendable(broken[1])
            try:
                adapter = adapter_for(channel, self.client)
            except JourneyctlError as exc:
                reason = "; ".join(d.message for d in exc.diagnostics)
                self._broken[channel.name] = (channel, reason)
                log.warning("channel %s cannot send (%s): its messages fail for good, to "
                            "their fallbacks where they have one", channel.name, reason,
                            extra={"fields": {"channel": channel.name}})
                raise Unsendable(reason) from None
            # Only now: a channel marked as configured before its adapter existed made every
            # later message fail with a KeyError.
            self._adapters[channel.name] = adapter
            self._limiters[channel.name] = RateLimiter.for_channel(channel)
            self._config[channel.name] = channel
            self._broken.pop(channel.name, None)
        return self._adapters[channel.name]

    async def _send(self, row: OutboxRow) -> None:
        try:
            try:
                delivery = await self._deliver(row)
            except Exception as exc:  # a bug must not kill the dispatcher
                self._hold(row, exc)
                return
            await self._record(row, delivery)
        finally:
            self.in_flight.pop(row.id, None)
            self._tasks[row.channel] -= 1
            self.wake.set()

    def _hold(self, row: OutboxRow, exc: Exception) -> None:
        """The message stays pending, but is not read again for a while (doubling): without
        this a failure on every attempt is a hot loop, thousands of attempts a second."""
        _, times = self._held.get(row.id, (0.0, 0))
        delay = min(HOLD_CAP, HOLD_FIRST * 2 ** min(times, 30))
        self._held[row.id] = (self.clock() + delay, times + 1)
        self.sends.failed(exc, f"delivering outbox message {row.id} (on {row.channel}; it "
                               f"stays pending, tried again in {delay:.1f}s)")

    async def _record(self, row: OutboxRow, delivery: Delivery) -> None:
        """Commit the outcome. The provider has answered, so a store failure here (the file
        locked a moment) is retried rather than leaving the message pending, which would send
        it again; if it goes on failing, the message is held and sent again later (at least
        once)."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                await self.core.record(delivery)
            except Exception as exc:
                if attempt == RECORD_ATTEMPTS - 1:
                    self._hold(row, exc)
                    return
                await asyncio.sleep(self.sends.failed(
                    exc, f"recording the outcome of outbox message {row.id}"))
            else:
                self.sends.succeeded()
                self._held.pop(row.id, None)
                return

    async def _deliver(self, row: OutboxRow) -> Delivery:
        """Send one message; the outcome to record."""
        payload = row.payload
        channel = self.channels().get(row.channel)
        if channel is None:
            return Delivery(row.id, "failed", 0, error=f"channel {row.channel} is not applied")
        max_delay = payload.get("max_delay")
        late = self.clock() - payload["time"]
        if max_delay is not None and late > max_delay:
            self.metrics.message(row.channel, "expired")
            return Delivery(row.id, "expired", 0, error=f"{late:.0f}s late, more than "
                            f"max_delay {max_delay:.0f}s")
        if payload.get("error") or payload.get("content") is None:
            self.metrics.message(row.channel, "unsendable")
            return self._fail(row, payload.get("error") or "nothing to send", 0)
        try:
            adapter = self._adapter(channel)
        except Unsendable as exc:  # no retry can help: fail for good, so the fallback runs
            self.metrics.message(row.channel, "permanent")
            return self._fail(row, str(exc), 0)
        message = Message(row.user_id, row.journey, row.step, row.channel, row.template,
                          row.category, row.idempotency_key, payload.get("to"),
                          payload["content"], payload.get("variant"))
        slot = self._slots.setdefault(row.channel, asyncio.Semaphore(HTTP_PER_CHANNEL))
        async with slot:
            started = time.perf_counter()
            outcome = await deliver(adapter, message, channel,
                                    limiter=self._limiters.get(row.channel))
            self.metrics.adapter_latency(row.channel, time.perf_counter() - started)
        return self._outcome(row, outcome)

    def _outcome(self, row: OutboxRow, outcome: Outcome) -> Delivery:
        self.metrics.message(row.channel, outcome.kind)
        if outcome.kind == "accepted":
            return Delivery(row.id, "sent", outcome.attempts, outcome.provider_id)
        if outcome.kind == "retryable" and outcome.retry_after is not None:
            return Delivery(row.id, "pending", outcome.attempts, error=outcome.error,
                            retry_at=self.clock() + outcome.retry_after)
        return self._fail(row, outcome.error or f"HTTP {outcome.status}", outcome.attempts)

    def _fail(self, row: OutboxRow, error: str, attempts: int) -> Delivery:
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
        return Delivery(row.id, "failed", attempts, error=error, follow_up=follow_up)


class Unsendable(Exception):
    """The channel's adapter cannot be built: every message on it fails for good."""


def _due(core: Core, now: float, room: dict[str, int], busy: list[int]) -> list[OutboxRow]:
    return core.runtime.due_messages(now, room, busy)
