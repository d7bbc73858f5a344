"""What the API accepts, checked without a server (journeyctl.daemon.intake)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from journeyctl.daemon import intake
from journeyctl.project import validate
from journeyctl.records import TimeParser
from tests.support.harness import PROJECT

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC).timestamp()
PARSE = TimeParser(ZoneInfo("Asia/Seoul"))


@pytest.fixture(scope="module")
def catalog():
    loaded = validate(PROJECT)
    assert loaded.project is not None
    return loaded.project.catalog


def check(catalog, *events):
    return intake.check_events(list(events), catalog, PARSE, NOW, 300)


def test_a_valid_event_becomes_an_inbox_row(catalog) -> None:
    valid, problems = check(catalog, {"event_id": "e1", "user_id": 42, "event": "purchase",
                                      "timestamp": "2026-03-02T17:59:00",
                                      "properties": {"amount": 12000}})
    assert problems == []
    # a naive timestamp is in the project's zone; an integer user id becomes text
    assert valid == [{"event_id": "e1", "user_id": "42", "event": "purchase",
                      "time": NOW - 60, "properties": {"amount": 12000}}]


@pytest.mark.parametrize(("event", "error"), [
    ({"user_id": "u", "event": "signup", "timestamp": "2026-03-02T09:00:00Z", "colour": "red"},
     "unknown field 'colour'"),
    ({"user_id": "u", "event": "purchase", "timestamp": "2026-03-02T09:00:00Z",
      "properties": {"amount": "ten"}}, "property 'amount' is text, the catalog says number"),
    ({"user_id": "u", "event": "purchase", "timestamp": "2026-03-02T09:00:00Z"},
     "event 'purchase' needs property 'amount'"),
    ({"user_id": "u", "event": "signup", "timestamp": "yesterday"},
     "unparseable timestamp 'yesterday'"),
    ({"user_id": "u", "event": "signup", "timestamp": "2026-03-02T09:00:00Z",
      "properties": [1]}, "properties must be an object"),
    ({"event": "signup", "timestamp": "2026-03-02T09:00:00Z"}, "missing user_id"),
    ({"user_id": "u", "event": "signup", "timestamp": "2026-03-02T09:00:00Z", "event_id": ""},
     "event_id is empty"),
    ({"user_id": "u", "event": "signup", "timestamp": "2026-03-02T09:00:00Z", "event_id": 1.5},
     "event_id must be text or an integer"),  # as `simulate` says of the same record
    ("signup", "a record must be a JSON object"),
])
def test_invalid_events_say_what_is_wrong(catalog, event, error) -> None:
    valid, problems = check(catalog, event)
    assert valid == []
    assert len(problems) == 1 and error in problems[0].error


def test_the_future_is_limited_and_milliseconds_are_caught(catalog) -> None:
    soon = {"user_id": "u", "event": "signup", "timestamp": NOW + 240}
    later = {"user_id": "u", "event": "signup", "timestamp": NOW + 400, "event_id": "x"}
    millis = {"user_id": "u", "event": "signup", "timestamp": NOW * 1000}
    valid, problems = check(catalog, soon, later, millis)
    assert [v["time"] for v in valid] == [NOW + 240]
    assert [(p.index, p.event_id) for p in problems] == [(1, "x"), (2, None)]
    assert "7 min in the future (at most 5 min" in problems[0].error
    assert "not milliseconds" in problems[1].error


def test_request_shapes() -> None:
    assert intake.records({"event": "a"}, "events", single="event") == [{"event": "a"}]
    assert intake.records({"events": [1, 2]}, "events", single="event") == [1, 2]
    for body, message in [([], "must be a JSON object"), ({"events": []}, "is empty"),
                          ({"events": {}}, "must be a list"),
                          ({"events": [1], "extra": 1}, "unknown field 'extra'"),
                          ({"nothing": 1}, 'expected {"events": [...]} or one record'),
                          ({"events": [0] * (intake.MAX_RECORDS + 1)}, "split the batch")]:
        with pytest.raises(intake.BadRequest, match=message.replace("[", r"\[")
                           .replace("(", r"\(")):
            intake.records(body, "events", single="event")


def test_profiles(catalog) -> None:
    valid, problems, undeclared = intake.check_profiles(
        [{"user_id": "u1", "name": "김민지", "consent": {"email": True}}, {"name": "no id"}, 7,
         {"user_id": "u2", "consent": {"email": "yes"}},
         {"user_id": "u3", "referral": "friend", "consent": {"kakao": True}}],
        catalog, PARSE)
    assert valid == [{"user_id": "u1", "name": "김민지", "consent": {"email": True}},
                     {"user_id": "u3", "referral": "friend", "consent": {"kakao": True}}]
    assert [(p.index, p.error) for p in problems] == [
        (1, "missing user_id"), (2, "a profile must be a JSON object with a user_id"),
        (3, "attribute 'consent.email' is text, the catalog says boolean")]
    assert undeclared.as_json() == {"lines": 1, "attributes": {"consent.kakao": 1,
                                                               "referral": 1}}


def deep(levels: int, container: str = "object") -> object:
    """`levels` levels of objects (or arrays) around a number."""
    value: object = 1
    for _ in range(levels):
        value = {"a": value} if container == "object" else [value]
    return value


@pytest.mark.parametrize("container", ["object", "array"])
def test_records_nested_deeper_than_the_limit_are_refused(catalog, container) -> None:
    # the record is level 1, `properties` level 2: 30 more levels inside fit, 31 do not
    fits = {"user_id": "u", "event": "signup", "timestamp": NOW,
            "properties": {"x": deep(intake.MAX_DEPTH - 2, container)}}
    over = {**fits, "properties": {"x": deep(intake.MAX_DEPTH - 1, container)}}
    hostile = {**fits, "timestamp": deep(5000)}  # deeper than Python's own recursion limit
    hostile_id = {**fits, "event_id": deep(1000, container)}  # str() of it overflows the stack
    valid, problems = check(catalog, fits, over, hostile, hostile_id)
    assert len(valid) == 1
    assert [(p.index, p.error, p.event_id) for p in problems] == [
        (i, "nested more than 32 levels deep (objects and arrays, the record itself the "
            "first): flatten the properties", None) for i in (1, 2, 3)]
    profiles = [{"user_id": "p", "prefs": deep(intake.MAX_DEPTH - 1, container)},
                {"user_id": "q", "prefs": deep(intake.MAX_DEPTH, container)}]
    valid, problems, _ = intake.check_profiles(profiles, catalog, PARSE)
    assert [v["user_id"] for v in valid] == ["p"]
    assert [p.index for p in problems] == [1] and "nested more than 32" in problems[0].error


def test_ids_and_event_names_are_at_most_256_bytes(catalog) -> None:
    base = {"user_id": "u", "event": "signup", "timestamp": NOW}
    fits = [{**base, "user_id": "u" * 256}, {**base, "event_id": "é" * 128},
            {**base, "user_id": 10**18}]
    over = [{**base, "user_id": "u" * 257}, {**base, "event_id": "é" * 129},
            {**base, "event": "s" * 300}]
    valid, problems = check(catalog, *fits, *over)
    assert len(valid) == 3
    assert [p.error for p in problems] == [
        "user_id is 257 bytes long; the limit is 256",
        "event_id is 258 bytes long; the limit is 256",
        "event is 300 bytes long; the limit is 256"]
    _, problems, _ = intake.check_profiles([{"user_id": "가" * 86}], catalog, PARSE)
    assert problems[0].error == "user_id is 258 bytes long; the limit is 256"


def test_ids_and_event_names_holding_nul_are_refused_on_every_store(catalog) -> None:
    """PostgreSQL text cannot hold NUL: the API refuses it before either store sees it."""
    base = {"user_id": "u", "event": "signup", "timestamp": NOW}
    valid, problems = check(catalog, base, {**base, "user_id": "u\x00"},
                            {**base, "event_id": "\x00"}, {**base, "event": "sign\x00up"})
    assert len(valid) == 1
    assert [p.error for p in problems] == [
        f"{key} holds a NUL character (\\u0000), which an id cannot hold"
        for key in ("user_id", "event_id", "event")]
    _, problems, _ = intake.check_profiles([{"user_id": "\x00"}], catalog, PARSE)
    assert "user_id holds a NUL character" in problems[0].error
