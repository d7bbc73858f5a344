"""The core of riding out outages, without a daemon: the channel-health tracker, the /healthz
answer, and the dispatcher's choice for a message whose quick retries all failed (pending again
with backoff, expired past `max_delay`, or failed to its fallback past the retry window)."""

from __future__ import annotations

import asyncio
from typing import Any

from channel_adapters.base import Outcome
from journeyctl import model as m
from journeyctl.daemon.dispatch import LAST_TRY_MARGIN, RETRY_WINDOW, Dispatcher
from journeyctl.daemon.health import MIN_ATTEMPTS, RECOVER_AFTER, ChannelHealth, health_answer
from journeyctl.daemon.metrics import Metrics
from journeyctl.diagnostics import Loc
from journeyctl.state.base import OutboxRow

T0 = 1_700_000_000.0
EMAIL = m.Channel(Loc("channels.yaml", 2, 3), name="email", adapter="sendgrid",
                  retry=m.Retry(3, m.Duration(1, "1s"), m.Duration(300, "5m")))
FALLBACK = {"channel": "sms", "template": "t_sms", "to": "+82100", "content": {"text": "hi"}}


def feed(health: ChannelHealth, outcomes: str) -> list[Any]:
    """`x` a failed attempt (HTTP 500), `.` an accepted one; the changes they caused."""
    return [change for o in outcomes
            if (change := health.observe("email", "HTTP 500" if o == "x" else None))]


def test_a_channel_is_degraded_when_most_recent_attempts_fail_and_only_then() -> None:
    assert feed(ChannelHealth(), "x" * (MIN_ATTEMPTS - 1)) == []  # too few to judge
    health = ChannelHealth()
    assert feed(health, ".x" * 15) == []  # half failing is not most
    [change] = feed(health, "xx")
    assert (change.state, change.detail) == ("degraded",
                                             "16 of the last 30 attempts failed (HTTP 500)")
    assert health.degraded() == {"email": "degraded: 16 of the last 30 attempts failed "
                                          "(HTTP 500)"}


def test_it_recovers_after_accepted_attempts_in_a_row_and_does_not_flap() -> None:
    health = ChannelHealth()
    feed(health, "x" * 30)
    assert feed(health, "." * (RECOVER_AFTER - 1) + "x") == []  # a failure restarts the count
    [change] = feed(health, "." * RECOVER_AFTER)
    assert change.state == "recovered"
    assert change.detail == f"{RECOVER_AFTER} attempts in a row accepted, after 31 failed"
    assert health.degraded() == {}
    # its history starts afresh: a few late failures do not make it degraded again
    assert feed(health, "x" * (MIN_ATTEMPTS - 1)) == []


def test_the_reason_names_the_most_common_failure() -> None:
    health = ChannelHealth()
    for failure in ["cannot connect"] * 8 + ["timeouts"] * 3:
        health.observe("sms", failure)
    health.observe("email", None)
    assert health.degraded() == {"sms": "degraded: 11 of the last 11 attempts failed "
                                        "(cannot connect)"}


def test_healthz_is_200_degraded_for_a_channel_and_503_for_the_daemon() -> None:
    assert health_answer(3, [], {}) == ({"status": "ok", "serial": 3}, 200)
    channels = {"email": "degraded: 28 of the last 30 attempts failed (HTTP 500)"}
    assert health_answer(3, [], channels) == (
        {"status": "degraded", "serial": 3, "channels": channels}, 200)
    body, status = health_answer(3, ["the engine loop failed 3 times"], channels)
    assert status == 503 and body["status"] == "unhealthy" and body["channels"] == channels


# --- what becomes of a message whose quick retries failed ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def dispatcher(clock: Clock) -> Dispatcher:
    # the store, client and channels are not used by the decision under test
    return Dispatcher(None, Metrics(), None, lambda: {}, clock=clock,  # type: ignore[arg-type]
                      rng=lambda: 1.0)


def row(attempts: int = 0, created_at: float = T0, **payload: Any) -> OutboxRow:
    return OutboxRow(1, "u:j:1:s:1", "u", "j", "s", "email", "t", "promotional",
                     {"time": created_at, "max_delay": None, "fallbacks": [FALLBACK],
                      **payload}, "pending", attempts, created_at)


def failed(attempts: int = 3, retry_after: float | None = None) -> Outcome:
    return Outcome("retryable", 500, None, "upstream down", retry_after, attempts)


def test_a_retryable_failure_stays_pending_with_a_growing_backoff() -> None:
    clock = Clock()
    waits = []
    for before in (0, 3, 6, 30):
        delivery = dispatcher(clock)._outcome(row(before), EMAIL, failed())
        assert (delivery.status, delivery.attempts, delivery.error) == ("pending", 3,
                                                                        "upstream down")
        assert delivery.follow_up is None
        waits.append(delivery.retry_at - clock.now)
    # after the quick retries' 1 s and 2 s: 4 s, doubling per delivery, up to max_backoff
    assert waits == [4.0, 8.0, 16.0, 300.0]


def test_retry_after_is_honoured_even_beyond_max_backoff() -> None:
    clock = Clock()
    delivery = dispatcher(clock)._outcome(row(), EMAIL, failed(retry_after=900))
    assert delivery.status == "pending" and delivery.retry_at == T0 + 900


def test_past_max_delay_it_expires_without_its_fallback() -> None:
    clock = Clock()
    late = row(12, max_delay=600)
    clock.now = T0 + 590  # the backoff (300 s) would end after the deadline: a last try before
    last = dispatcher(clock)._outcome(late, EMAIL, failed())
    assert (last.status, last.retry_at) == ("pending", T0 + 600 - LAST_TRY_MARGIN)
    clock.now = T0 + 600 - LAST_TRY_MARGIN  # that last try failed too
    delivery = dispatcher(clock)._outcome(late, EMAIL, failed())
    assert (delivery.status, delivery.follow_up) == ("expired", None)
    assert delivery.error == ("not delivered within max_delay 600s after 15 attempts; the last: "
                              "upstream down")
    clock.now = T0 + 200
    assert dispatcher(clock)._outcome(late, EMAIL, failed()).status == "pending"
    # a provider asking for a wait past the deadline: given up at once
    assert dispatcher(clock)._outcome(late, EMAIL, failed(retry_after=500)).status == "expired"


def test_without_max_delay_it_gives_up_after_a_day_and_falls_back() -> None:
    clock = Clock()
    daemon = dispatcher(clock)
    clock.now = T0 + RETRY_WINDOW - 100
    last_try = T0 + RETRY_WINDOW - LAST_TRY_MARGIN
    assert daemon._outcome(row(290), EMAIL, failed()).retry_at == last_try
    clock.now = last_try
    delivery = daemon._outcome(row(290), EMAIL, failed())
    assert delivery.status == "failed"
    assert delivery.error == "gave up after 293 attempts over 24h; the last: upstream down"
    assert delivery.follow_up is not None and delivery.follow_up["channel"] == "sms"
    assert delivery.follow_up["idempotency_key"] == "u:j:1:s:1#fallback1"


def test_a_message_queued_before_a_long_downtime_still_gets_its_day() -> None:
    clock = Clock()
    clock.now = T0 + 2 * RETRY_WINDOW  # the daemon starts two days after it was queued
    delivery = dispatcher(clock)._outcome(row(), EMAIL, failed())
    assert delivery.status == "pending"


def test_the_health_tracker_sees_every_attempt_and_the_gauge_follows() -> None:
    clock = Clock()
    daemon = dispatcher(clock)
    for _ in range(MIN_ATTEMPTS):
        daemon._observe("email", failed(1))
    assert daemon.health.degraded()
    text = daemon.metrics.render({}).decode()
    assert 'journeyctl_channel_degraded{channel="email"} 1.0' in text
    assert 'journeyctl_retryable_failures_total{channel="email",class="http_5xx"} 10.0' in text
    for _ in range(RECOVER_AFTER):
        daemon._observe("email", Outcome("accepted", 202, "id", None, None))
    assert not daemon.health.degraded()
    assert 'journeyctl_channel_degraded{channel="email"} 0.0' in daemon.metrics.render(
        {}).decode()


def test_permanent_refusals_say_nothing_of_the_providers_health() -> None:
    daemon = dispatcher(Clock())
    for _ in range(3 * MIN_ATTEMPTS):
        daemon._observe("email", Outcome("permanent", 400, None, "invalid recipient", None))
    assert not daemon.health.degraded()


def test_quick_retries_do_not_hold_a_provider_slot_while_waiting() -> None:
    from journeyctl.daemon.dispatch import _sleep_without

    async def go() -> list[bool]:
        slot = asyncio.Semaphore(1)
        await slot.acquire()  # a message's slot, then its backoff
        waiting = asyncio.create_task(_sleep_without(slot, 0.05))
        await asyncio.sleep(0)
        free_meanwhile = not slot.locked()
        await waiting
        return [free_meanwhile, slot.locked()]

    assert asyncio.run(go()) == [True, True]
