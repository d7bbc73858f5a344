"""Conformance, SPEC §4: triggers, audience, status, re-entry, goals, exit_on, order of time."""

from __future__ import annotations

from journeyctl.engine import effects as fx
from tests.support.scenarios import EVERYONE, Runner, clock, sends, suppressions

ONE_SEND = """steps:
  - {id: hello, send: {channel: email, template: e1}}
"""


def entries(out: object) -> list[tuple[str, str]]:
    return [(clock(e.time), e.user_id) for e in out.of(fx.Entered)]  # type: ignore[attr-defined]


def test_event_trigger_with_where_and_a_list_of_events(scenario: Runner) -> None:
    trigger = "trigger: {event: [signup, purchase], where: 'has(event.plan) || has(event.amount)'}"
    out = scenario({"j": trigger + "\n" + ONE_SEND}, [
        ("2024-03-04 09:00", "u1", "signup"),  # no plan: where is false
        ("2024-03-04 10:00", "u1", "signup", {"plan": "pro"}),
        ("2024-03-04 11:00", "u2", "purchase", {"amount": 3.0}),
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-05 00:00")
    assert entries(out) == [("2024-03-04 10:00", "u1"), ("2024-03-04 11:00", "u2")]


def test_audience_and_paused_status(scenario: Runner) -> None:
    out = scenario({
        "open": "trigger: {event: signup}\naudience: 'has(profile.tier)'\n" + ONE_SEND,
        "paused": "status: paused\ntrigger: {event: signup}\n" + ONE_SEND,
        "draft": "status: draft\ntrigger: {event: signup}\n" + ONE_SEND,
    }, [("2024-03-04 09:00", "u1", "signup"), ("2024-03-04 09:00", "u2", "signup")],
        profiles={"u1": {**EVERYONE, "tier": "x"}, "u2": EVERYONE}, until="2024-03-05 00:00")
    assert [(e.journey, e.user_id) for e in out.of(fx.Entered)] == [("open", "u1")]
    reasons = sorted((e.journey, e.user_id, e.reason) for e in out.of(fx.NotEntered))
    assert reasons == [("open", "u2", "audience"), ("paused", "u1", "paused"),
                       ("paused", "u2", "paused")]


def test_reentry_modes(scenario: Runner) -> None:
    body = """steps:
  - {id: hello, send: {channel: email, template: e1}}
  - {id: pause, wait: 1d}
"""
    times = ["2024-03-04 09:00", "2024-03-04 12:00", "2024-03-05 10:00", "2024-03-08 08:59",
             "2024-03-11 09:00"]
    out = scenario({
        "never": "trigger: {event: signup}\nentry: {reentry: never}\n" + body,
        "after": "trigger: {event: signup}\nentry: {reentry: after_exit}\n" + body,
        "week": "trigger: {event: signup}\nentry: {reentry: 7d}\n" + body,
    }, [(t, "u1", "signup") for t in times], until="2024-03-20 00:00")
    by_journey: dict[str, list[str]] = {}
    for e in out.of(fx.Entered):
        by_journey.setdefault(e.journey, []).append(clock(e.time))
    assert by_journey == {
        "never": ["2024-03-04 09:00"],
        # not while active (12:00 is during the 1-day wait), again once it has exited
        "after": ["2024-03-04 09:00", "2024-03-05 10:00", "2024-03-08 08:59",
                  "2024-03-11 09:00"],
        # and only 7 days after the last entry: 03-11 09:00 is exactly 7d later
        "week": ["2024-03-04 09:00", "2024-03-11 09:00"],
    }


def test_inactive_trigger_once_per_quiet_spell(scenario: Runner) -> None:
    out = scenario({"j": "trigger: {inactive: 3d, events: [view, purchase]}\n" + ONE_SEND}, [
        ("2024-03-01 10:00", "u1", "view"),
        ("2024-03-03 10:00", "u1", "view"),      # the spell restarts: 3d from here
        ("2024-03-05 09:00", "u1", "ping"),       # not in `events`: not activity
        ("2024-03-12 00:00", "u1", "purchase"),   # a new spell
        ("2024-03-01 10:00", "u2", "ping"),       # never active by this journey's measure
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-20 00:00")
    assert entries(out) == [("2024-03-06 10:00", "u1"), ("2024-03-15 00:00", "u1")]


def test_inactive_trigger_any_event(scenario: Runner) -> None:
    out = scenario({"j": "trigger: {inactive: 1d}\n" + ONE_SEND}, [
        ("2024-03-01 10:00", "u1", "ping"), ("2024-03-01 22:00", "u1", "view"),
    ], until="2024-03-05 00:00")
    assert entries(out) == [("2024-03-02 22:00", "u1")]


def test_schedule_trigger_known_users_and_audience(scenario: Runner) -> None:
    # Mondays 10:00 UTC; 2024-03-04 and 2024-03-11 are Mondays.
    journey = """trigger: {schedule: "0 10 * * 1"}
audience: 'has(profile.tier) && profile.tier == "vip"'
entry: {reentry: after_exit}
steps:
  - {id: hello, send: {channel: email, template: e1}}
"""
    profiles = {"vip_in_file": {**EVERYONE, "tier": "vip"}, "plain": EVERYONE}
    out = scenario({"j": journey}, [
        ("2024-03-01 00:00", "plain", "ping"),  # starts the clock on Friday 1 March
        ("2024-03-05 00:00", "seen_later", "identify", {"tier": "vip", **EVERYONE}),
    ], profiles=profiles, until="2024-03-12 00:00")
    # identify is not in the catalog: any properties are accepted and merged into the profile
    assert entries(out) == [("2024-03-04 10:00", "vip_in_file"), ("2024-03-11 10:00", "seen_later"),
                            ("2024-03-11 10:00", "vip_in_file")]


def test_goal_converts_within_the_window_even_after_the_instance_ended(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
goal: {event: purchase, within: 2d, value: 'event.amount', exit: true}
steps:
  - {id: hello, send: {channel: email, template: e1}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "signup"),  # completes at once
        ("2024-03-06 09:00", "u1", "purchase", {"amount": 12.5}),  # exactly 2d: converts
        ("2024-03-04 09:00", "u2", "signup"),
        ("2024-03-06 09:01", "u2", "purchase", {"amount": 9.0}),  # too late
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-08 00:00")
    conversions = out.of(fx.Converted)
    assert [(c.user_id, clock(c.time), c.value) for c in conversions] == [
        ("u1", "2024-03-06 09:00", 12.5)]
    assert [m.step for m in conversions[0].messages] == ["hello"]
    assert [(e.user_id, e.reason) for e in out.of(fx.Exited)] == [("u1", "completed"),
                                                                  ("u2", "completed")]


def test_goal_exit_ends_an_active_instance_and_exit_false_keeps_it(scenario: Runner) -> None:
    body = """steps:
  - {id: pause, wait: 1d}
  - {id: later, send: {channel: email, template: e1}}
"""
    out = scenario({
        "leaves": "trigger: {event: signup}\ngoal: {event: purchase, within: 3d}\n" + body,
        "stays": "trigger: {event: signup}\ngoal: {event: purchase, within: 3d, exit: false}\n"
                 + body,
    }, [("2024-03-04 09:00", "u1", "signup"), ("2024-03-04 12:00", "u1", "purchase",
                                                {"amount": 1.0})],
        until="2024-03-08 00:00")
    assert sends(out) == [("2024-03-05 09:00", "u1", "later", "email:e1")]
    assert [(e.journey, e.reason) for e in out.of(fx.Exited)] == [("leaves", "goal"),
                                                                  ("stays", "completed")]
    assert sorted(c.journey for c in out.of(fx.Converted)) == ["leaves", "stays"]


def test_goal_where_and_one_conversion_per_instance(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
goal: {event: purchase, within: 5d, where: 'event.amount >= 10.0', exit: false}
steps:
  - {id: pause, wait: 3d}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "signup"),
        ("2024-03-04 10:00", "u1", "purchase", {"amount": 5.0}),   # where false
        ("2024-03-04 11:00", "u1", "purchase", {"amount": 20.0}),  # converts
        ("2024-03-04 12:00", "u1", "purchase", {"amount": 30.0}),  # already converted
    ], until="2024-03-08 00:00")
    assert [clock(c.time) for c in out.of(fx.Converted)] == ["2024-03-04 11:00"]


def test_exit_on_ends_the_instance_without_converting(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
goal: {event: purchase, within: 5d}
exit_on:
  - {event: unsubscribe}
  - {event: click, where: 'event.kind == "stop"'}
steps:
  - {id: pause, wait: 1d}
  - {id: later, send: {channel: email, template: e1}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "signup"), ("2024-03-04 10:00", "u1", "unsubscribe"),
        ("2024-03-04 09:00", "u2", "signup"), ("2024-03-04 10:00", "u2", "click", {"kind": "x"}),
        ("2024-03-04 09:00", "u3", "signup"), ("2024-03-04 10:00", "u3", "click", {"kind": "stop"}),
    ], profiles={u: EVERYONE for u in ("u1", "u2", "u3")}, until="2024-03-06 00:00")
    assert [(e.user_id, e.reason) for e in out.of(fx.Exited) if e.reason != "completed"] == [
        ("u1", "exit_event"), ("u3", "exit_event")]
    assert [s[1] for s in sends(out)] == ["u2"]


def test_an_event_goes_to_instances_before_it_is_a_trigger(scenario: Runner) -> None:
    # The purchase converts (and ends) the running instance, then starts a new one.
    journey = """trigger: {event: purchase}
goal: {event: purchase, within: 7d}
steps:
  - {id: pause, wait: 2d}
  - {id: later, send: {channel: email, template: e1}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "purchase", {"amount": 1.0}),
        ("2024-03-05 09:00", "u1", "purchase", {"amount": 2.0}),
    ], until="2024-03-10 00:00")
    assert entries(out) == [("2024-03-04 09:00", "u1"), ("2024-03-05 09:00", "u1")]
    conversions = out.of(fx.Converted)
    assert [(c.instance, clock(c.time)) for c in conversions] == [(1, "2024-03-05 09:00")]
    assert sends(out) == [("2024-03-07 09:00", "u1", "later", "email:e1")]


def test_events_before_timers_at_the_same_time(scenario: Runner) -> None:
    # The wait_for times out at 10:00; a click at exactly 10:00 is processed first and wins.
    journey = """trigger: {event: signup}
steps:
  - {id: w, wait_for: {event: click, timeout: 1h, on_timeout: late}, next: hit}
  - {id: late, send: {channel: email, template: e1}, next: exit}
  - {id: hit, send: {channel: email, template: e2}}
"""
    out = scenario({"j": journey}, [("2024-03-04 09:00", "u1", "signup"),
                                     ("2024-03-04 10:00", "u1", "click")],
                   until="2024-03-05 00:00")
    assert sends(out) == [("2024-03-04 10:00", "u1", "hit", "email:e2")]


def test_timers_due_together_fire_in_the_order_they_were_set(scenario: Runner) -> None:
    # Journey b's timer (set at 09:00) fires before journey a's (set at 10:00), though a < b.
    out = scenario({
        "a": """trigger: {event: click}
steps:
  - {id: wait_a, wait: 2h}
  - {id: send_a, send: {channel: email, template: e1}}
""",
        "b": """trigger: {event: signup}
steps:
  - {id: wait_b, wait: 3h}
  - {id: send_b, send: {channel: email, template: e2}}
""",
    }, [("2024-03-04 09:00", "u1", "signup"), ("2024-03-04 10:00", "u1", "click")],
        until="2024-03-05 00:00")
    assert [(s[0], s[2]) for s in sends(out)] == [("2024-03-04 12:00", "send_b"),
                                                  ("2024-03-04 12:00", "send_a")]


def test_one_input_goes_to_journeys_in_id_order(scenario: Runner) -> None:
    out = scenario({
        "zeta": "trigger: {event: signup}\n" + ONE_SEND,
        "alpha": "trigger: {event: signup}\n" + ONE_SEND,
    }, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-05 00:00")
    assert [e.journey for e in out.of(fx.Entered)] == ["alpha", "zeta"]


def test_durations_are_elapsed_time_across_a_dst_change(scenario: Runner) -> None:
    # New York springs forward on 2024-03-10: 1d after 03-09 12:00 EST is 03-10 13:00 EDT.
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: pause, wait: 1d}
  - {id: later, send: {channel: email, template: e1}}
"""}, [("2024-03-09 17:00", "u1", "signup")],
        profiles={"u1": {**EVERYONE, "timezone": "America/New_York"}}, until="2024-03-12 00:00")
    assert sends(out) == [("2024-03-10 17:00", "u1", "later", "email:e1")]  # UTC: 24h later


def test_identify_merges_nested_attributes(scenario: Runner) -> None:
    # SPEC §3: identify merges into the profile; a nested object is merged key by key, so
    # granting push consent keeps the email consent the profile already had.
    journey = """trigger: {event: signup}
steps:
  - {id: hello, send: {channel: email, template: e1}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "identify", {"consent": {"push": True}}),
        ("2024-03-04 09:01", "u1", "signup"),
    ], until="2024-03-05 00:00")
    assert sends(out) == [("2024-03-04 09:01", "u1", "hello", "email:e1")]
    assert suppressions(out) == []
