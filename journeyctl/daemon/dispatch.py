"""The dispatcher: sends outbox messages through the channel adapters, records each outcome.

Each message is a task of its own, so a slow or failing provider holds up only its own
messages. Each channel has room for a bounded number of tasks (some waiting out a retry
backoff), at most `HTTP_PER_CHANNEL` of them talking to the provider at once, under the
channel's token bucket; a channel without room is not read from the store until it has some,
so a provider that is down costs the other channels nothing.

Delivery is at least once: a message stays `pending` until the provider's answer is committed,
so after a crash it is sent again — with the same idempotency key, which providers that support
one use to drop the repeat (SPEC §5 "Delivery"). Outcomes are committed in groups (see
`journeyctl.daemon.core_thread.GroupCommit`).

Outages are ridden out: a message whose quick retries (`retry.attempts`, in `deliver`) all
failed for a retryable reason stays `pending` and is delivered again later, the wait going on
doubling with each delivery up to `max_backoff` (or the provider's `Retry-After`), until its
deadline — the journey's `max_delay` after its moment (then it is `expired`), else
`RETRY_WINDOW` after it was queued or the daemon started (then it `failed`, and its fallback
takes over). Every attempt feeds the channel's health (`journeyctl.daemon.health`): a channel
whose attempts mostly fail is logged once at WARNING, shown by /healthz and a gauge, and
recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import httpx

from channel_adapters import adapter_for
from channel_adapters.base import Message, Outcome
from channel_adapters.delivery import deliver, failure_class, failure_summary, retry_wait
from channel_adapters.ratelimit import RateLimiter
from journeyctl import model as m
from journeyctl.daemon.core import Core
from journeyctl.daemon.core_thread import CoreThread
from journeyctl.daemon.health import Change, ChannelHealth
from journeyctl.daemon.logs import Watch
from journeyctl.daemon.metrics import Metrics
from journeyctl.daemon.unsubscribe import Links
from journeyctl.diagnostics import JourneyctlError
from journeyctl.state.base import Clock, Delivery, OutboxRow

log = logging.getLogger("journeyctl.dispatch")
TASKS_PER_CHANNEL = 256  # messages a channel works on at once (sending, or between retries)
HTTP_PER_CHANNEL = 32  # of which talking to the provider
HOLD_FIRST, HOLD_CAP = 0.5, 30.0  # seconds a message that failed unexpectedly waits (doubling)
RECORD_ATTEMPTS = 5  # tries to commit an outcome (0.5 + 1 + 2 + 4 s apart) before giving up
# A wait that would end past a message's deadline ends this long before it, for a last try that
# the dispatcher still makes in time (a message handed over after its deadline is expired).
LAST_TRY_MARGIN = 1.0
# How long a message without `max_delay` keeps being retried (from when it was queued, or the
# daemon started if later: a daemon down for two days still gives it a day).
RETRY_WINDOW = 24 * 3600.0


class Dispatcher:
    def __init__(self, core: CoreThread, metrics: Metrics, client: httpx.AsyncClient,
                 channels: Callable[[], dict[str, m.Channel]],
                 clock: Clock = time.time, health: ChannelHealth | None = None,
                 rng: Callable[[], float] = random.random, links: Links | None = None) -> None:
        """`links`: the one-click unsubscribe URLs promotional email carries (None: none)."""
        self.core = core
        self.metrics = metrics
        self.client = client
        self.channels = channels
        self.clock = clock
        self.health = health if health is not None else ChannelHealth()
        self.rng = rng
        self.links = links
        self.started = clock()
        self._gauged: set[str] = set()
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
            tried = f"not delivered within max_delay {max_delay:.0f}s after {row.attempts} " \
                f"attempts; picked up {late:.0f}s late" if row.attempts else \
                f"{late:.0f}s late, more than max_delay {max_delay:.0f}s"
            return Delivery(row.id, "expired", 0, error=tried)
        if payload.get("error") or payload.get("content") is None:
            self.metrics.message(row.channel, "unsendable")
            return self._fail(row, payload.get("error") or "nothing to send", 0)
        try:
            adapter = self._adapter(channel)
        except Unsendable as exc:  # no retry can help: fail for good, so the fallback runs
            self.metrics.message(row.channel, "permanent")
            return self._fail(row, str(exc), 0)
        message = Message(row.user_id, row.journey, row.step, row.channel, row.template,
                          row.category,
                          row.idempotency_key, payload.get("to"),
                          payload["content"], payload.get("variant"),
                          self.links.for_message(channel, row.category, row.user_id)
                          if self.links is not None else None)
        slot = self._slots.setdefault(row.channel, asyncio.Semaphore(HTTP_PER_CHANNEL))
        async with slot:
            started = time.perf_counter()
            outcome = await deliver(adapter, message, channel,
                                    limiter=self._limiters.get(row.channel),
                                    observe=partial(self._observe, row.channel),
                                    sleep=partial(_sleep_without, slot))
            self.metrics.adapter_latency(row.channel, time.perf_counter() - started)
        return self._outcome(row, channel, outcome)

    def _observe(self, channel: str, outcome: Outcome) -> None:
        """One attempt's outcome: counted by failure class, and fed to the channel's health."""
        if outcome.kind == "retryable":
            self.metrics.retryable_failure(channel, failure_class(outcome))
        if channel not in self._gauged:  # the gauge's series exists from the first attempt
            self._gauged.add(channel)
            self.metrics.channel_degraded(channel, False)
        if outcome.kind not in ("accepted", "retryable"):
            return  # refused for good (a bad address, a bad request): the provider is up
        change = self.health.observe(channel, None if outcome.accepted
                                     else failure_summary(outcome))
        if change is not None:
            self._changed(change)

    def _changed(self, change: Change) -> None:
        """Logged once per change of state, at WARNING both ways: an alert on the first
        should see the second."""
        self.metrics.channel_degraded(change.channel, change.state == "degraded")
        fields = {"fields": {"channel": change.channel, "health": change.state}}
        if change.state == "degraded":
            log.warning("channel %s is degraded: %s; its messages stay pending and are tried "
                        "again with backoff until their deadline (/healthz names it)",
                        change.channel, change.detail, extra=fields)
        else:
            log.warning("channel %s recovered: %s", change.channel, change.detail,
                        extra=fields)

    def _outcome(self, row: OutboxRow, channel: m.Channel, outcome: Outcome) -> Delivery:
        if outcome.kind == "accepted":
            self.metrics.message(row.channel, "accepted")
            return Delivery(row.id, "sent", outcome.attempts, outcome.provider_id)
        if outcome.kind == "retryable":
            return self._retry_later(row, channel, outcome)
        self.metrics.message(row.channel, "permanent")
        return self._fail(row, outcome.error or f"HTTP {outcome.status}", outcome.attempts)

    def _retry_later(self, row: OutboxRow, channel: m.Channel, outcome: Outcome) -> Delivery:
        """Pending again, tried after the backoff, or a second before the message's deadline if
        that comes first (a last try); given up now (expired, or failed to its fallback) when
        that last try is past, or when the provider's Retry-After asks for a time after it."""
        tried = row.attempts + outcome.attempts
        # The wait doubles per delivery, not per attempt: counting each delivery's quick
        # attempts would multiply it by 2**attempts a time, leaving messages minutes behind a
        # provider that was out for 30 s.
        deliveries = -(-tried // max(1, channel.retry.attempts))
        wait = retry_wait(channel.retry, channel.retry.attempts + deliveries - 1,
                          outcome.retry_after, self.rng)
        error = outcome.error or f"HTTP {outcome.status}"
        now = self.clock()
        deadline = self._deadline(row)
        forced = outcome.retry_after is not None and now + outcome.retry_after > deadline
        last_try = deadline - LAST_TRY_MARGIN  # before the deadline, so that it is made
        if now >= last_try or forced:
            return self._given_up(row, tried, error, outcome.attempts)
        self.metrics.message(row.channel, "retryable")
        return Delivery(row.id, "pending", outcome.attempts, error=error,
                        retry_at=min(now + wait, last_try))

    def _deadline(self, row: OutboxRow) -> float:
        """`max_delay` after the message's moment, else `RETRY_WINDOW` after it was queued
        (or after this daemon started, for a message queued before a long downtime)."""
        max_delay = row.payload.get("max_delay")
        if max_delay is not None:
            return float(row.payload["time"] + max_delay)
        return max(row.created_at, self.started) + RETRY_WINDOW

    def _given_up(self, row: OutboxRow, tried: int, error: str, attempts: int) -> Delivery:
        """Past `max_delay`: too late for any channel (expired). Past the retry window:
        failed, so that its fallback may still reach the user."""
        max_delay = row.payload.get("max_delay")
        if max_delay is not None:
            self.metrics.message(row.channel, "expired")
            return Delivery(row.id, "expired", attempts, error=(
                f"not delivered within max_delay {max_delay:.0f}s after {tried} attempts; "
                f"the last: {error}"))
        self.metrics.message(row.channel, "gave_up")
        return self._fail(row, f"gave up after {tried} attempts over "
                               f"{RETRY_WINDOW / 3600:.0f}h; the last: {error}", attempts)

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


async def _sleep_without(slot: asyncio.Semaphore, seconds: float) -> None:
    """Wait between two quick retries without holding a slot: the slots bound the messages
    talking to the provider, and a message waiting out its backoff is not (in an outage most
    are waiting, and would hold up the others)."""
    slot.release()
    try:
        await asyncio.sleep(seconds)
    finally:
        await slot.acquire()


def _due(core: Core, now: float, room: dict[str, int], busy: list[int]) -> list[OutboxRow]:
    return core.runtime.due_messages(now, room, busy)
