"""The delivery policy against a misbehaving provider, over real sockets: every fault of issue 5
(500 then 200, 429 with Retry-After, 400, connection refused, a slow provider, non-JSON bodies)
and the backoff arithmetic."""

from __future__ import annotations

import datetime as dt
import time
from email.utils import format_datetime

import pytest

from channel_adapters.base import Outcome
from channel_adapters.delivery import backoff_delay, failure_class, failure_summary, retry_wait
from channel_adapters.fake import FakeProvider, Response
from channel_adapters.http_adapter import retry_after
from journeyctl.model import Duration, Retry
from tests.support.adapters import (
    TWILIO_SID,
    Sleeps,
    closed_port,
    fake_provider,
    make_channel,
    make_message,
    send,
    send_once,
)

fake = pytest.fixture(fake_provider)

BODY = {"body": {"type": "vip"}}
EMAIL = {"subject": "s", "text": "t"}


def test_500_then_200_is_one_retry_with_the_same_idempotency_key(fake: FakeProvider) -> None:
    fake.queue("/hooks/crm", Response(500, "upstream exploded"))
    channel = make_channel("webhook", f"{fake.url}/hooks/crm", attempts=3, backoff=1)
    sleeps = Sleeps()
    outcome = send(channel, make_message(channel, BODY), sleep=sleeps)

    assert (outcome.kind, outcome.status, outcome.attempts) == ("accepted", 200, 2)
    first, second = fake.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] \
        == "u-1:cart:1:email_reminder:1"
    assert first.json() == second.json()
    assert len(sleeps.waits) == 1 and 0.5 <= sleeps.waits[0] <= 1.0  # backoff 1s, jittered


def test_429_with_retry_after_2_waits_at_least_2_seconds(fake: FakeProvider) -> None:
    fake.queue("/services/T0/B0/slack-secret-0004",
               Response(429, "rate_limited", {"Retry-After": "2"}))
    channel = make_channel("slack", fake.url, attempts=3, backoff=1)
    started = time.monotonic()
    outcome = send(channel, make_message(channel, {"text": "hi"}))  # the real asyncio.sleep
    elapsed = time.monotonic() - started

    assert (outcome.kind, outcome.attempts) == ("accepted", 2)
    assert elapsed >= 2.0
    assert len(fake.requests) == 2


def test_retry_after_never_shortens_the_wait_and_a_long_one_is_left_to_the_caller(
        fake: FakeProvider) -> None:
    channel = make_channel("sendgrid", fake.url, attempts=5, backoff=1, max_backoff=60)
    fake.queue("/v3/mail/send", Response(503, "", {"Retry-After": "7"}))
    sleeps = Sleeps()
    assert send(channel, make_message(channel, EMAIL, to="a@b.c"), sleep=sleeps).accepted
    assert sleeps.waits == [7.0]

    fake.queue("/v3/mail/send", Response(429, {"errors": [{"message": "too many"}]},
                                         {"Retry-After": "3600"}))
    sleeps = Sleeps()
    outcome = send(channel, make_message(channel, EMAIL, to="a@b.c"), sleep=sleeps)
    assert (outcome.kind, outcome.retry_after, outcome.attempts) == ("retryable", 3600, 1)
    assert outcome.error == "too many"
    assert sleeps.waits == []  # an hour is the caller's to schedule, not ours to sleep


def test_400_is_permanent_without_retry_and_keeps_the_error_text(fake: FakeProvider) -> None:
    error = {"errors": [{"message": "The from address does not match a verified Sender "
                                    "Identity", "field": "from", "help": None}]}
    fake.queue("/v3/mail/send", Response(400, error))
    channel = make_channel("sendgrid", fake.url, attempts=5)
    sleeps = Sleeps()
    outcome = send(channel, make_message(channel, EMAIL, to="a@b.c"), sleep=sleeps)

    assert (outcome.kind, outcome.status, outcome.attempts) == ("permanent", 400, 1)
    assert outcome.error == "from: The from address does not match a verified Sender Identity"
    assert (outcome.provider_id, outcome.retry_after) == (None, None)
    assert len(fake.requests) == 1 and sleeps.waits == []


TWILIO_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def test_each_provider_error_format_is_kept_readably(fake: FakeProvider) -> None:
    fake.queue(TWILIO_PATH, Response(400, {"code": 21211, "message": "Invalid 'To' Phone Number",
                                           "status": 400}))
    twilio = make_channel("twilio", fake.url, attempts=1)
    outcome = send(twilio, make_message(twilio, {"text": "hi"}, to="not-a-number"))
    assert (outcome.kind, outcome.error) == ("permanent", "21211: Invalid 'To' Phone Number")

    fake.queue("/v1/projects/acme-test/messages:send", Response(404, {"error": {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}))
    fcm = make_channel("fcm", fake.url, attempts=1)
    outcome = send(fcm, make_message(fcm, {"title": "t", "body": "b"}, to="stale-token"))
    assert (outcome.kind, outcome.error) == ("permanent",
                                             "NOT_FOUND: Requested entity was not found.")


def test_twilio_too_many_requests_code_is_retryable(fake: FakeProvider) -> None:
    fake.queue(TWILIO_PATH, Response(400, {"code": 20429, "message": "Too Many Requests"}))
    channel = make_channel("twilio", fake.url, attempts=1)
    outcome = send(channel, make_message(channel, {"text": "hi"}, to="+15551234567"))
    assert (outcome.kind, outcome.error) == ("retryable", "20429: Too Many Requests")


def test_fcm_quota_exhausted_is_retryable(fake: FakeProvider) -> None:
    fake.queue("/v1/projects/acme-test/messages:send", Response(429, {"error": {
        "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
        {"Retry-After": "1"}))
    channel = make_channel("fcm", fake.url, attempts=1)
    outcome = send(channel, make_message(channel, {"title": "t", "body": "b"}, to="tok"))
    assert (outcome.kind, outcome.status, outcome.retry_after) == ("retryable", 429, 1.0)
    assert outcome.error == "RESOURCE_EXHAUSTED: Quota exceeded"


def test_connection_refused_is_retried_then_reported_retryable() -> None:
    channel = make_channel("webhook", f"http://127.0.0.1:{closed_port()}/hook", attempts=3,
                           backoff=1, max_backoff=60)
    sleeps = Sleeps()
    outcome = send(channel, make_message(channel, BODY), sleep=sleeps, rng=lambda: 1.0)

    assert (outcome.kind, outcome.status, outcome.attempts) == ("retryable", None, 3)
    assert outcome.error and outcome.error.startswith("ConnectError")
    assert sleeps.waits == [1.0, 2.0]  # exponential: backoff, then twice that


def test_a_slow_provider_times_out_and_the_retry_goes_through(fake: FakeProvider) -> None:
    fake.queue("/hook", Response(200, delay=5))  # far beyond the channel's 1 s timeout
    channel = make_channel("webhook", f"{fake.url}/hook", attempts=2, timeout=1)
    started = time.monotonic()
    outcome = send(channel, make_message(channel, BODY), sleep=Sleeps())

    assert (outcome.kind, outcome.attempts) == ("accepted", 2)
    assert time.monotonic() - started >= 1.0  # the first attempt waited out its timeout
    assert len(fake.requests) == 2


def test_a_slow_provider_on_the_last_attempt_is_a_retryable_timeout(fake: FakeProvider) -> None:
    fake.queue("/hook", Response(200, delay=5))
    channel = make_channel("webhook", f"{fake.url}/hook", attempts=1, timeout=1)
    outcome = send(channel, make_message(channel, BODY))
    assert (outcome.kind, outcome.status, outcome.attempts) == ("retryable", None, 1)
    assert outcome.error and outcome.error.startswith("timed out after 1s")


def test_a_non_json_success_is_accepted_without_an_id(fake: FakeProvider) -> None:
    html = Response(200, "<html>ok</html>", {"Content-Type": "text/html"})
    fake.queue("/v1/projects/acme-test/messages:send", html)
    fcm = make_channel("fcm", fake.url)
    outcome = send_once(fcm, make_message(fcm, {"title": "t", "body": "b"}, to="tok"))
    assert (outcome.kind, outcome.status, outcome.provider_id) == ("accepted", 200, None)

    webhook = make_channel("webhook", f"{fake.url}/hook")
    fake.queue("/hook", Response(204))
    outcome = send_once(webhook, make_message(webhook, BODY))
    assert (outcome.kind, outcome.status, outcome.provider_id) == ("accepted", 204, None)


def test_a_non_json_error_keeps_its_text(fake: FakeProvider) -> None:
    page = "<html><h1>502 Bad Gateway</h1></html>"
    fake.queue("/v1/projects/acme-test/messages:send",
               Response(502, page, {"Content-Type": "text/html"}),
               Response(403, "Forbidden by proxy"))
    fcm = make_channel("fcm", fake.url)
    bad_gateway = send_once(fcm, make_message(fcm, {"title": "t", "body": "b"}, to="tok"))
    forbidden = send_once(fcm, make_message(fcm, {"title": "t", "body": "b"}, to="tok"))
    assert (bad_gateway.kind, bad_gateway.error) == ("retryable", page)
    assert (forbidden.kind, forbidden.error) == ("permanent", "Forbidden by proxy")


def test_long_error_text_is_truncated_and_an_empty_one_named(fake: FakeProvider) -> None:
    fake.queue("/hook", Response(400, "x" * 5000), Response(400))
    channel = make_channel("webhook", f"{fake.url}/hook")
    long = send_once(channel, make_message(channel, BODY))
    empty = send_once(channel, make_message(channel, BODY))
    assert long.error and len(long.error) == 500 and long.error.endswith("…")
    assert empty.error == "HTTP 400 with an empty body"


def test_an_unusable_url_is_permanent() -> None:
    channel = make_channel("webhook", "ftp://example.com/hook", attempts=3)
    outcome = send(channel, make_message(channel, BODY), sleep=Sleeps())
    assert (outcome.kind, outcome.attempts) == ("permanent", 1)
    assert outcome.error and outcome.error.startswith("UnsupportedProtocol")


def test_backoff_doubles_with_jitter_up_to_max_backoff() -> None:
    policy = Retry(6, Duration(1, "1s"), Duration(10, "10s"))
    lowest = [backoff_delay(policy, n, None, lambda: 0.0) for n in range(1, 7)]
    highest = [backoff_delay(policy, n, None, lambda: 1.0) for n in range(1, 7)]
    assert lowest == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert highest == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_delay(policy, 1, 3.0, lambda: 0.0) == 3.0  # Retry-After wins when longer
    assert backoff_delay(policy, 1, 11.0, lambda: 0.0) is None  # longer than max_backoff


def test_the_wait_across_deliveries_keeps_doubling_to_max_backoff_or_retry_after() -> None:
    policy = Retry(3, Duration(1, "1s"), Duration(300, "5m"))
    assert [retry_wait(policy, n, None, lambda: 1.0) for n in (3, 6, 9, 10, 5000)] == \
        [4.0, 32.0, 256.0, 300.0, 300.0]  # 5,000 failures: no float overflow
    assert retry_wait(policy, 3, 900.0, lambda: 0.0) == 900.0  # Retry-After beyond the cap


def test_each_attempt_is_observed_and_failures_are_classified(fake: FakeProvider) -> None:
    fake.queue("/hook", Response(503, "busy"), Response(429, "slow down"))
    channel = make_channel("webhook", f"{fake.url}/hook", attempts=3, backoff=1)
    seen: list[Outcome] = []
    outcome = send(channel, make_message(channel, BODY), sleep=Sleeps(), observe=seen.append)
    assert [o.kind for o in seen] == ["retryable", "retryable", "accepted"]
    assert outcome.attempts == 3
    assert [failure_class(o) for o in seen[:2]] == ["http_5xx", "http_429"]
    assert [failure_summary(o) for o in seen[:2]] == ["HTTP 503", "HTTP 429"]
    refused = send(make_channel("webhook", f"http://127.0.0.1:{closed_port()}/h", attempts=1),
                   make_message(channel, BODY))
    timed_out = Outcome("retryable", None, None, "timed out after 2s", None)
    assert (failure_class(refused), failure_summary(refused)) == ("connection", "cannot connect")
    assert (failure_class(timed_out), failure_summary(timed_out)) == ("timeout", "timeouts")


def test_retry_after_reads_seconds_http_dates_and_rate_limit_resets() -> None:
    now = dt.datetime(2024, 3, 13, 10, 0, tzinfo=dt.UTC)
    later = format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    at = now.timestamp()
    assert retry_after({"retry-after": "2"}, at) == 2.0
    assert retry_after({"retry-after": "1.5"}, at) == 1.5
    assert retry_after({"retry-after": later}, at) == 90.0
    assert retry_after({"retry-after": "Wed, 13 Mar 2024 09:00:00 GMT"}, at) == 0.0  # past
    assert retry_after({"x-ratelimit-reset": str(int(at) + 30)}, at) == 30.0  # Unix time
    assert retry_after({"x-ratelimit-reset": "12"}, at) == 12.0  # seconds from now
    assert retry_after({"retry-after": "soon"}, at) is None
    assert retry_after({}, at) is None
