"""Conformance, SPEC §5: reachable → consent → quiet hours → caps; fallbacks; categories;
and SPEC §4 splits."""

from __future__ import annotations

import hashlib

from journeyctl.engine import effects as fx
from journeyctl.engine.split import assign, bucket
from journeyctl.model import Loc, Variant
from tests.support.scenarios import EVERYONE, SEOUL, Runner, at, clock, sends, suppressions

FALLBACK = """trigger: {event: signup}
steps:
  - id: hello
    send:
      channel: push
      template: p1
      fallback: [{channel: sms, template: s1}, {channel: email, template: e1}]
"""


def test_fallback_order_and_reasons(scenario: Runner) -> None:
    users = {
        "all": EVERYONE,
        "no_push_token": {**EVERYONE, "push_token": ""},  # empty string: unreachable
        "push_no_consent": {**EVERYONE, "consent": {"push": False, "sms": True}},
        "only_email": {"email": "x@example.com", "consent": {"email": True}},
        "nothing": {"email": "x@example.com", "consent": {"email": "yes"}},  # not JSON true
        "nobody": {},
    }
    out = scenario({"j": FALLBACK}, [("2024-03-04 09:00", u, "signup") for u in users],
                   profiles=users, until="2024-03-05 00:00")
    assert sorted((s[1], s[3]) for s in sends(out)) == [
        ("all", "push:p1"), ("no_push_token", "sms:s1"), ("only_email", "email:e1"),
        ("push_no_consent", "sms:s1")]
    # with every option failing, the reason is the last option's
    assert sorted((s[1], s[3]) for s in suppressions(out)) == [
        ("nobody", "unreachable"), ("nothing", "no_consent")]
    assert [e.option for e in out.sends if e.user_id == "only_email"] == [2]


def test_transactional_needs_only_an_address(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: receipt, send: {channel: email, template: e1, category: transactional}}
  - {id: receipt2, send: {channel: email, template: e2, category: transactional}}
"""}, [("2024-03-04 23:00", "u1", "signup")],
        profiles={"u1": {"email": "a@example.com", "consent": {"email": False}}},
        settings='caps: [{channel: any, max: 1, per: 1d}]\n'
                 'quiet_hours: {start: "21:00", end: "08:00"}\n',
        until="2024-03-05 00:00")
    assert [s[2] for s in sends(out)] == ["receipt", "receipt2"]


QUIET = 'quiet_hours: {start: "21:00", end: "08:00", action: %s}\n'
SEND_AT_ENTRY = """trigger: {event: signup}
steps:
  - {id: hello, send: {channel: email, template: e1}}
  - {id: after, send: {channel: email, template: e2, category: transactional}}
"""


def test_quiet_hours_delay_across_midnight(scenario: Runner) -> None:
    out = scenario({"j": SEND_AT_ENTRY}, [
        ("2024-03-04 21:00", "u1", "signup"),   # the window includes its start
        ("2024-03-04 07:59", "u2", "signup"),   # ... and runs across midnight
        ("2024-03-04 08:00", "u3", "signup"),   # ... and excludes its end
    ], profiles={u: EVERYONE for u in ("u1", "u2", "u3")}, settings=QUIET % "delay",
        until="2024-03-06 00:00")
    assert sends(out) == [("2024-03-04 08:00", "u2", "hello", "email:e1"),
                          ("2024-03-04 08:00", "u2", "after", "email:e2"),
                          ("2024-03-04 08:00", "u3", "hello", "email:e1"),
                          ("2024-03-04 08:00", "u3", "after", "email:e2"),
                          ("2024-03-05 08:00", "u1", "hello", "email:e1"),
                          ("2024-03-05 08:00", "u1", "after", "email:e2")]
    held = out.of(fx.Held)
    assert [(h.user_id, clock(h.until)) for h in held] == [("u2", "2024-03-04 08:00"),
                                                           ("u1", "2024-03-05 08:00")]
    # a held send is reached once
    assert sum(1 for e in out.of(fx.StepReached) if e.step == "hello" and e.user_id == "u1") == 1


def test_quiet_hours_skip(scenario: Runner) -> None:
    out = scenario({"j": SEND_AT_ENTRY}, [("2024-03-04 23:30", "u1", "signup")],
                   settings=QUIET % "skip", until="2024-03-06 00:00")
    assert sends(out) == [("2024-03-04 23:30", "u1", "after", "email:e2")]
    assert suppressions(out) == [("2024-03-04 23:30", "u1", "hello", "quiet_hours")]


def test_quiet_hours_in_the_users_own_zone(scenario: Runner) -> None:
    # 12:00 UTC is 21:00 in Seoul: quiet there, not in UTC.
    out = scenario({"j": SEND_AT_ENTRY}, [("2024-03-04 12:00", "seoul", "signup"),
                                          ("2024-03-04 12:00", "utc", "signup")],
                   profiles={"seoul": {**EVERYONE, "timezone": "Asia/Seoul"},
                             "utc": {**EVERYONE, "timezone": "Not/AZone"}},  # invalid: project zone
                   settings=QUIET % "delay", until="2024-03-06 00:00")
    firsts = [(s[1], s[0]) for s in sends(out) if s[2] == "hello"]
    assert firsts == [("utc", "2024-03-04 12:00"), ("seoul", "2024-03-04 23:00")]  # 08:00 KST


def test_quiet_hours_end_on_a_dst_night(scenario: Runner) -> None:
    # New York, 2024-03-10: clocks jump 02:00 -> 03:00. A window 01:00-02:30 ends at the first
    # moment the local clock shows 02:30, which does not exist that night: 03:30 EDT (07:30Z).
    out = scenario({"j": SEND_AT_ENTRY}, [("2024-03-10 06:30", "u1", "signup")],  # 01:30 EST
                   profiles={"u1": {**EVERYONE, "timezone": "America/New_York"}},
                   settings='quiet_hours: {start: "01:00", end: "02:30"}\n',
                   until="2024-03-11 00:00")
    assert [(s[0], s[2]) for s in sends(out)] == [("2024-03-10 07:30", "hello"),
                                                  ("2024-03-10 07:30", "after")]


def test_kr_night_rule_needs_night_consent(scenario: Runner) -> None:
    users = {"day_only": {**EVERYONE, "timezone": "Asia/Seoul"},
             "night_ok": {**EVERYONE, "timezone": "Asia/Seoul",
                          "consent": {**EVERYONE["consent"], "night": True}}}
    # 13:00 UTC = 22:00 KST; no project quiet hours, only the kr pack.
    journey = SEND_AT_ENTRY.replace("template: e1}", "template: e3}")
    out = scenario({"j": journey}, [("2024-03-04 13:00", u, "signup") for u in users],
                   profiles=users, settings="compliance: [kr]\n", until="2024-03-06 00:00")
    hellos = [(s[1], clock(out.sends[i].time, SEOUL)) for i, s in enumerate(sends(out))
              if s[2] == "hello"]
    assert hellos == [("night_ok", "2024-03-04 22:00"), ("day_only", "2024-03-05 08:00")]
    assert [h.reason for h in out.of(fx.Held)] == ["kr_night"]


CAPPED = """trigger: {event: click}
entry: {reentry: after_exit}
steps:
  - {id: hello, send: {channel: email, template: e1, fallback: [{channel: sms, template: s1}]}}
"""


def test_cap_window_boundary(scenario: Runner) -> None:
    # At most 1 email per 1d: 08:00 the next day is outside (now - 1d, now].
    out = scenario({"j": CAPPED}, [("2024-03-04 08:00", "u1", "click"),
                                   ("2024-03-05 07:59", "u1", "click"),
                                   ("2024-03-05 08:00", "u1", "click")],
                   settings="caps: [{channel: email, max: 1, per: 1d}]\n",
                   until="2024-03-06 00:00")
    assert [s[0] for s in sends(out)] == ["2024-03-04 08:00", "2024-03-05 08:00"]
    # a capped send does not try its fallback; the reason is the cap as written
    assert suppressions(out) == [("2024-03-05 07:59", "u1", "hello", "cap:email/1/1d")]


def test_project_caps_count_across_journeys_journey_caps_within(scenario: Runner) -> None:
    body = """trigger: {event: click}
entry: {reentry: after_exit}
steps:
  - {id: hello, send: {channel: email, template: e1}}
"""
    out = scenario({"a": body, "b": body + "caps: [{channel: any, max: 1, per: 1w}]\n"}, [
        ("2024-03-04 08:00", "u1", "click"), ("2024-03-04 09:00", "u1", "click"),
        ("2024-03-04 10:00", "u1", "click"),
    ], settings="caps:\n  - {channel: any, max: 4, per: 12h}\n", until="2024-03-05 00:00")
    assert [(s[0], s[2]) for s in sends(out)] == [
        ("2024-03-04 08:00", "hello"), ("2024-03-04 08:00", "hello"),  # a, b
        ("2024-03-04 09:00", "hello"),  # a; b's own cap (1 per week) is full
        ("2024-03-04 10:00", "hello")]  # a: the 4th in 12h; b is capped again
    reasons = [(s[0], e.journey, s[3]) for s, e in zip(suppressions(out),
                                                        out.of(fx.Suppressed), strict=True)]
    assert reasons == [("2024-03-04 09:00", "b", "cap:any/1/1w"),
                       ("2024-03-04 10:00", "b", "cap:any/4/12h")]  # project caps come first


def test_split_assignment_is_the_specified_hash(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
steps:
  - id: ab
    split:
      - {variant: a, weight: 30, next: send_a}
      - {variant: b, weight: 70, next: send_b}
  - {id: send_a, send: {channel: email, template: e1}, next: exit}
  - {id: send_b, send: {channel: email, template: e2}}
"""
    users = [f"user-{i}" for i in range(200)]
    out = scenario({"ab-test": journey}, [("2024-03-04 09:00", u, "signup") for u in users],
                   profiles={u: EVERYONE for u in users}, until="2024-03-05 00:00")
    got = {e.user_id: e.variant for e in out.of(fx.VariantAssigned)}
    for user in users:  # recomputed here from SPEC §4's words
        digest = hashlib.sha256(f"ab-test:ab:{user}".encode()).digest()
        value = int.from_bytes(digest[:8], "big") % 10000
        assert got[user] == ("a" if value < 3000 else "b"), user
    assert {e.variant for e in out.sends} == {"ab=a", "ab=b"}


def test_split_is_stable_when_weights_change() -> None:
    before = [Variant(loc=Loc("x"), name="a", weight=50), Variant(loc=Loc("x"), name="b",
                                                                  weight=50)]
    after = [Variant(loc=Loc("x"), name="a", weight=40), Variant(loc=Loc("x"), name="b",
                                                                 weight=60)]
    moved = 0
    for i in range(2000):
        value = bucket("j", "ab", f"u{i}")
        old, new = assign(before, value).name, assign(after, value).name
        if value < 4000 or value >= 5000:  # buckets outside the moved range keep their variant
            assert old == new
        else:
            moved += old != new
    assert moved > 0


def test_count_window_includes_the_current_event(scenario: Runner) -> None:
    journey = """trigger: {event: view, where: 'count("view", duration("1h")) >= 3'}
entry: {reentry: never}
steps:
  - {id: hello, send: {channel: email, template: e1}}
"""
    out = scenario({"j": journey}, [("2024-03-04 09:00", "u1", "view"),
                                    ("2024-03-04 09:30", "u1", "view"),
                                    # 09:00 is not in the window (09:00, 10:00]
                                    ("2024-03-04 10:00", "u1", "view"),
                                    ("2024-03-04 10:20", "u1", "view")],
                   until="2024-03-05 00:00")
    assert sends(out) == [("2024-03-04 10:20", "u1", "hello", "email:e1")]
    state = next(out.simulation.states())
    assert state.history["view"] == [at("2024-03-04 09:30"), at("2024-03-04 10:00"),
                                     at("2024-03-04 10:20")]  # only the longest window kept
