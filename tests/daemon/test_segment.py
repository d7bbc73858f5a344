"""The official Segment and RudderStack Python SDKs posting to a real `serve`: their batches
(/v1/batch, HTTP Basic with the write key) become the same events, and so the same messages,
as /v1/events; an anonymous visitor's cart follows them when they log in (identity merge);
a wrong write key is a 401 and a malformed body a 400 with the `code` and `message` the SDKs
read. (Neither SDK warns at import: no warning filter is needed here.)"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from channel_adapters.fake import FakeProvider
from tests.support.harness import (
    TOKEN,
    Served,
    State,
    apply,
    payloads,
    project_copy,
    rows,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

SDKS: dict[str, Callable[..., Any]] = {"segment": SegmentClient, "rudderstack": RudderClient}
CART = """journey: cart
status: active
trigger:
  event: cart_updated
exit_on:
  - event: checkout
steps:
  - id: remind
    wait: 3s
  - id: send_reminder
    send: {channel: email, template: reminder_email, category: transactional}
"""
IDLE = ("SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL) + (SELECT COUNT(*) "
        "FROM timers) + (SELECT COUNT(*) FROM outbox WHERE status = 'pending')")


def _client(sdk: str, served: Served, errors: list[Any], key: str = TOKEN) -> Any:
    return SDKS[sdk](write_key=key, host=served.url, max_retries=0,
                     on_error=lambda error, batch: errors.append(error))


def _sent(state: State, prefix: str) -> list[tuple[str, ...]]:
    return sorted((user.removeprefix(prefix), journey, step, channel, template)
                  for user, journey, step, channel, template in rows(
                      state, "SELECT user_id, journey, step, channel, template FROM outbox "
                             "WHERE user_id LIKE ?", f"{prefix}%"))


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_the_sdks_send_what_v1_events_sends(tmp_path: Path, state: State, sdk: str) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    traits = {"a": {"name": "Ann", "email": "ann@example.com", "vip": True,
                    "phone": "+15005550001", "consent": {"email": True, "sms": True}},
              "b": {"name": "Bo", "email": "bo@example.com", "push_token": "tok-b",
                    "consent": {"email": True, "push": True}}}
    errors: list[Any] = []
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        client = _client(sdk, served, errors)
        for user, values in traits.items():
            client.identify(f"sdk-{user}", values)
            client.track(f"sdk-{user}", "signup", {"plan": "pro"})
        client.track("sdk-a", "purchase", {"amount": 30})
        client.flush()
        events = [e for user, values in traits.items() for e in (
            {"user_id": f"api-{user}", "event": "identify", "properties": values},
            {"user_id": f"api-{user}", "event": "signup", "properties": {"plan": "pro"}})]
        events.append({"user_id": "api-a", "event": "purchase", "properties": {"amount": 30}})
        stamp = {"timestamp": "2020-01-01T00:00:00Z"}
        assert served.post("/v1/events", {"events": [{**e, **stamp} for e in events]}
                           ).status_code == 202
        wait_until(lambda: rows(state, IDLE) == [(0,)] and len(_sent(state, "sdk-")) >= 4,
                   timeout=30)
        context = rows(state, "SELECT properties FROM inbox WHERE user_id = 'sdk-a' AND "
                              "name = 'signup'")
    assert errors == []
    assert _sent(state, "sdk-") == _sent(state, "api-")
    assert ("a", "receipt", "notify_crm", "crm", "crm_purchase") in _sent(state, "sdk-")
    assert b"_context" in bytes(context[0][0])  # the message's context, kept


def test_an_anonymous_cart_follows_the_visitor_who_logs_in(tmp_path: Path,
                                                           state: State) -> None:
    project = project_copy(tmp_path)
    (project / "journeys/cart.yaml").write_text(CART, encoding="utf-8")
    events = project / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  unsubscribe: {}\n", "  unsubscribe: {}\n  cart_updated: {}\n  checkout: {}\n"),
        encoding="utf-8")
    apply(project, state)
    errors: list[Any] = []
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        client = _client("segment", served, errors)
        client.track(anonymous_id="anon-1", event="cart_updated", properties={"items": 2})
        client.flush()
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM timers WHERE user_id = 'anon-1'")
                   == [(1,)])
        client.identify("known-1", {"name": "Kim", "email": "kim@example.com"},
                        anonymous_id="anon-1")
        client.flush()
        wait_until(lambda: rows(state, IDLE) == [(0,)] and payloads(
            state, "to", "journey = 'cart'"), timeout=30)
        # later events of the anonymous id are the known user's
        client.track(anonymous_id="anon-1", event="signup")
        client.flush()
        wait_until(lambda: payloads(state, "to", "journey = 'welcome'"), timeout=30)
        user = served.get("/v1/users/known-1").json()
    assert errors == []
    assert rows(state, "SELECT user_id, step FROM outbox WHERE journey = 'cart'") == [
        ("known-1", "send_reminder")]
    assert payloads(state, "to", "journey = 'cart'") == ["kim@example.com"]
    assert rows(state, "SELECT user_id FROM outbox WHERE journey = 'welcome'") == [
        ("known-1",)]
    assert rows(state, "SELECT user_id, known_id FROM aliases") == [("anon-1", "known-1")]
    assert rows(state, "SELECT COUNT(*) FROM instances WHERE user_id = 'anon-1' AND "
                       "status = 'active'") == [(0,)]
    assert user["profile"]["name"] == "Kim"
    assert {i["journey"] for i in user["instances"]} == {"cart", "welcome"}


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_a_wrong_write_key_is_refused(tmp_path: Path, state: State, sdk: str) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    errors: list[Any] = []
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        client = _client(sdk, served, errors, key="not-the-token")
        client.track("u1", "signup")
        client.flush()
        assert rows(state, "SELECT COUNT(*) FROM inbox") == [(0,)]
    assert [(e.status, e.code) for e in errors] == [(401, "unauthorized")]


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.mark.parametrize(("body", "headers", "error"), [
    (b"{not json", {}, "malformed JSON"),
    (b"[]", {}, "the body must be a JSON object"),
    (b'{"batch": "x"}', {}, 'expected {"batch": [...]}'),
    (b'{"batch": [{"type": "nope", "userId": "u"}]}', {}, "no valid message"),
    (b'{"batch": [{"type": "track", "event": "signup"}]}', {}, "no valid message"),
    (b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}, "not valid gzip"),
    (gzip.compress(b"{" * 10), {"Content-Encoding": "gzip"}, "malformed JSON"),
])
def test_a_malformed_body_is_a_400_never_a_500(tmp_path: Path, body: bytes,
                                               headers: dict[str, str], error: str) -> None:
    state = tmp_path / "state.db"  # (what the API refuses is refused before any store)
    project = project_copy(tmp_path)
    apply(project, state)
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        answer = httpx.post(f"{served.url}/v1/batch", content=body,
                            headers={**_basic(TOKEN), "Content-Type": "application/json",
                                     **headers})
        single = httpx.post(f"{served.url}/v1/alias", json={"previousId": "a"},
                            headers=_basic(TOKEN))
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert error in found["error"] and found["code"] == "invalid_request"
    assert found["message"] == found["error"]
    assert single.status_code == 400
    assert single.json()["rejected"] == [
        {"index": 0, "error": "an alias needs previousId and userId (text)"}]


def _held_by(served: Served) -> set[int]:
    return set(served.get("/healthz").json()["partitions"]["held"])


def test_a_merge_across_two_daemons_partitions(tmp_path: Path, pg_url: str) -> None:
    """On a shared PostgreSQL state the anonymous and the known user can be run by different
    daemons: each daemon does its user's step of the merge, through the inbox."""
    from journeyctl.state.partitions import partition_of

    state = pg_url + "?schema=merge"
    project = project_copy(tmp_path)
    (project / "journeys/cart.yaml").write_text(CART, encoding="utf-8")
    events = project / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  unsubscribe: {}\n", "  unsubscribe: {}\n  cart_updated: {}\n  checkout: {}\n"),
        encoding="utf-8")
    apply(project, state)
    errors: list[Any] = []
    with FakeProvider() as fake, Served(project, state, fake.url, args=("--lease", "2")) as a, \
            Served(project, state, fake.url, args=("--lease", "2")) as b:
        wait_until(lambda: len(_held_by(a)) == 16 and len(_held_by(b)) == 16, timeout=30)
        mine, theirs = _held_by(a), _held_by(b)
        anonymous = next(f"anon-{n}" for n in range(1000) if partition_of(f"anon-{n}", 32)
                         in mine)
        known = next(f"known-{n}" for n in range(1000) if partition_of(f"known-{n}", 32)
                     in theirs)
        client = _client("segment", a, errors)  # one daemon takes them all: any may
        client.track(anonymous_id=anonymous, event="cart_updated", properties={"items": 2})
        client.flush()
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM timers WHERE user_id = ?",
                                anonymous) == [(1,)])
        client.identify(known, {"name": "Kim", "email": "kim@example.com"},
                        anonymous_id=anonymous)
        client.flush()
        wait_until(lambda: rows(state, IDLE) == [(0,)] and payloads(
            state, "to", "journey = 'cart'"), timeout=30)
        # no partition moved meanwhile: each step ran on the daemon holding its user
        assert _held_by(a) == mine and _held_by(b) == theirs
    assert errors == []
    assert rows(state, "SELECT user_id, step FROM outbox WHERE journey = 'cart'") == [
        (known, "send_reminder")]
    assert payloads(state, "to", "journey = 'cart'") == ["kim@example.com"]
    assert rows(state, "SELECT user_id, known_id FROM aliases") == [(anonymous, known)]
