"""Conformance, SPEC §4 steps: each step kind, with exact messages and times."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.state import new_state
from journeyctl.model import Located
from tests.support.scenarios import EVERYONE, Runner, build, clock, sends


def test_wait_then_send(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: first, send: {channel: email, template: e1}}
  - {id: nap, wait: 1d12h}
  - {id: second, send: {channel: email, template: e2}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-10 00:00")
    assert sends(out) == [("2024-03-04 09:00", "u1", "first", "email:e1"),
                          ("2024-03-05 21:00", "u1", "second", "email:e2")]
    exits = out.of(fx.Exited)
    assert [(clock(e.time), e.reason) for e in exits] == [("2024-03-05 21:00", "completed")]


def test_steps_follow_next_and_exit(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: a, send: {channel: email, template: e1}, next: c}
  - {id: b, send: {channel: email, template: e2}}
  - {id: c, send: {channel: email, template: e3}, next: exit}
  - {id: d, send: {channel: email, template: e4}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-05 00:00")
    assert [s[2] for s in sends(out)] == ["a", "c"]


def test_wait_until_local_time_and_days(scenario: Runner) -> None:
    # 2024-03-04 is a Monday. Until 10:00 on tue/thu: Tuesday 10:00.
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: later, wait: {until: "10:00", days: [tue, thu]}}
  - {id: go, send: {channel: email, template: e1}}
"""}, [("2024-03-04 11:00", "u1", "signup")], until="2024-03-10 00:00")
    assert sends(out) == [("2024-03-05 10:00", "u1", "go", "email:e1")]


def test_wait_until_is_now_when_exactly_that_time(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: later, wait: {until: "10:00"}}
  - {id: go, send: {channel: email, template: e1}}
"""}, [("2024-03-04 10:00", "u1", "signup"), ("2024-03-04 10:00", "u2", "signup")],
        profiles={"u1": EVERYONE, "u2": {**EVERYONE, "timezone": "Asia/Seoul"}},
        until="2024-03-06 00:00")
    # u1 (UTC) is at 10:00 already; u2's clock shows 19:00, so 10:00 Seoul next day = 01:00 UTC
    assert sends(out) == [("2024-03-04 10:00", "u1", "go", "email:e1"),
                          ("2024-03-05 01:00", "u2", "go", "email:e1")]


def test_wait_for_event_and_timeout(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
steps:
  - id: w
    wait_for: {event: click, where: 'event.kind == "cta"', timeout: 2d, on_timeout: nudge}
    next: thanks
  - {id: nudge, send: {channel: email, template: e1}, next: exit}
  - {id: thanks, send: {channel: email, template: e2}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 09:00", "u1", "signup"), ("2024-03-04 09:00", "u2", "signup"),
        ("2024-03-04 12:00", "u1", "click", {"kind": "other"}),  # where is false: still waits
        ("2024-03-05 08:00", "u1", "click", {"kind": "cta"}),
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-08 00:00")
    assert sends(out) == [("2024-03-05 08:00", "u1", "thanks", "email:e2"),
                          ("2024-03-06 09:00", "u2", "nudge", "email:e1")]


def test_wait_for_timeout_without_on_timeout_goes_to_the_following_step(scenario: Runner
                                                                        ) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: w, wait_for: {event: click, timeout: 1h}, next: exit}
  - {id: after, send: {channel: email, template: e1}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-04 12:00")
    assert sends(out) == [("2024-03-04 10:00", "u1", "after", "email:e1")]


def test_wait_for_lookback(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
steps:
  - {id: pause, wait: 1h}
  - id: w
    wait_for: {event: click, timeout: 1d, on_timeout: miss, lookback: 2h}
    next: hit
  - {id: miss, send: {channel: email, template: e1}, next: exit}
  - {id: hit, send: {channel: email, template: e2}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 08:00", "u1", "click"),  # exactly 2h before the wait began (10:00): counts
        ("2024-03-04 09:00", "u1", "signup"),
        ("2024-03-04 07:59", "u2", "click"),  # 2h01m before: too old
        ("2024-03-04 09:00", "u2", "signup"),
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-06 00:00")
    assert sends(out) == [("2024-03-04 10:00", "u1", "hit", "email:e2"),
                          ("2024-03-05 10:00", "u2", "miss", "email:e1")]


def test_wait_for_lookback_since_entry(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
steps:
  - {id: pause, wait: 1h}
  - id: w
    wait_for: {event: click, timeout: 1d, on_timeout: miss, lookback: entry}
    next: hit
  - {id: miss, send: {channel: email, template: e1}, next: exit}
  - {id: hit, send: {channel: email, template: e2}}
"""
    out = scenario({"j": journey}, [
        ("2024-03-04 08:59", "u1", "click"),  # before entry: does not count
        ("2024-03-04 09:00", "u1", "signup"),
        ("2024-03-04 09:00", "u2", "signup"),
        ("2024-03-04 09:30", "u2", "click"),  # after entry, before the wait: counts
    ], profiles={"u1": EVERYONE, "u2": EVERYONE}, until="2024-03-06 00:00")
    assert sends(out) == [("2024-03-04 10:00", "u2", "hit", "email:e2"),
                          ("2024-03-05 10:00", "u1", "miss", "email:e1")]


def test_branch_first_true_arm_and_default_else(scenario: Runner) -> None:
    journey = """trigger: {event: signup}
steps:
  - id: route
    branch:
      - {if: 'has(profile.tier) && profile.tier == "gold"', next: gold}
      - {if: 'has(profile.score) && profile.score > 10', next: high}
  - {id: plain, send: {channel: email, template: e1}, next: exit}
  - {id: gold, send: {channel: email, template: e2}, next: exit}
  - {id: high, send: {channel: email, template: e3}}
"""
    users = {"gold": {**EVERYONE, "tier": "gold", "score": 50},
             "high": {**EVERYONE, "score": 11}, "none": {**EVERYONE}}
    out = scenario({"j": journey}, [("2024-03-04 09:00", u, "signup") for u in users],
                   profiles=users, until="2024-03-05 00:00")
    assert sorted((s[1], s[2]) for s in sends(out)) == [("gold", "gold"), ("high", "high"),
                                                       ("none", "plain")]


def test_failing_condition_counts_as_false(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - id: route
    branch:
      - {if: 'profile.score > 10', next: high}
      - {else: plain}
  - {id: plain, send: {channel: email, template: e1}, next: exit}
  - {id: high, send: {channel: email, template: e2}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-05 00:00")
    assert [s[2] for s in sends(out)] == ["plain"]
    failed = out.of(fx.ExpressionFailed)
    assert len(failed) == 1 and failed[0].where == "route.if"


def test_update_changes_the_profile_for_later_steps(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: purchase}
steps:
  - id: tag
    update: {set: {tier: '"gold"', score: 'event.amount * 2.0', consent.night: true}}
  - id: route
    branch:
      - {if: 'profile.tier == "gold" && profile.score == 30.0', next: gold}
  - {id: other, send: {channel: email, template: e1}, next: exit}
  - {id: gold, send: {channel: email, template: e2}}
"""}, [("2024-03-04 09:00", "u1", "purchase", {"amount": 15.0})], until="2024-03-05 00:00")
    assert [s[2] for s in sends(out)] == ["gold"]
    update = out.of(fx.ProfileUpdated)[0]
    assert update.changes == {"tier": "gold", "score": 30.0, "consent.night": True}
    state = next(out.simulation.states())
    assert state.profile["consent"] == {"email": True, "sms": True, "push": True, "night": True}


def test_loop_repeats_times_then_falls_through(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: remind, send: {channel: email, template: e1}}
  - {id: pause, wait: 1d}
  - {id: again, loop: {to: remind, times: 2}}
  - {id: done, send: {channel: email, template: e2}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-10 00:00")
    assert sends(out) == [("2024-03-04 09:00", "u1", "remind", "email:e1"),
                          ("2024-03-05 09:00", "u1", "remind", "email:e1"),
                          ("2024-03-06 09:00", "u1", "remind", "email:e1"),
                          ("2024-03-07 09:00", "u1", "done", "email:e2")]
    visits = [e.visit for e in out.sends if e.step == "remind"]
    assert visits == [1, 2, 3]  # the idempotency key differs per visit
    assert len({e.idempotency_key for e in out.sends}) == 4


def test_exit_step_completes(scenario: Runner) -> None:
    out = scenario({"j": """trigger: {event: signup}
steps:
  - {id: a, send: {channel: email, template: e1}}
  - {id: stop, exit: {reason: enough}}
  - {id: never, send: {channel: email, template: e2}}
"""}, [("2024-03-04 09:00", "u1", "signup")], until="2024-03-05 00:00")
    assert [s[2] for s in sends(out)] == ["a"]
    exits = out.of(fx.Exited)
    assert [(e.reason, e.step) for e in exits] == [("completed", "stop")]


def test_the_engine_never_changes_the_profiles_it_was_given(scenario: Runner) -> None:
    profile = {**EVERYONE, "consent": {**EVERYONE["consent"]}}
    scenario({"j": """trigger: {event: signup}
steps:
  - {id: tag, update: {set: {consent.night: true, tier: '"x"'}}}
"""}, [("2024-03-04 09:00", "u1", "signup")], profiles={"u1": profile},
        until="2024-03-05 00:00")
    assert profile == {**EVERYONE, "consent": {**EVERYONE["consent"]}}


def test_a_send_carries_its_moment_for_rendering(tmp_path: Path) -> None:
    """A host renders a message from the moment it was sent: steps after it in the same input
    (an update, a split) must not show in it, though they ran before the host rendered."""
    journey = """trigger: {event: signup}
steps:
  - {id: hello, send: {channel: email, template: e1}}
  - {id: promote, update: {set: {tier: '"gold"'}}}
  - id: ab
    split:
      - {variant: a, weight: 50, next: exit}
      - {variant: b, weight: 50, next: exit}
"""
    project = build(tmp_path / "p", {"j": journey})
    state = new_state("u1", {**EVERYONE, "tier": "silver"})
    _, effects = Engine(project).step(state, Event("u1", "signup", 60.0, {"plan": "pro"}), 60.0)
    (send,) = [e for e in effects if isinstance(e, fx.Send)]
    assert state.profile["tier"] == "gold" and state.journeys["j"].active is None
    moment = send.moment
    assert moment.profile["tier"] == "silver" and moment.variants == {}
    assert moment.entry == moment.event == {"plan": "pro"}
    assert moment.journey == {"id": "j", "version": 1,
                              "entered_at": dt.datetime.fromtimestamp(60.0, dt.UTC)}


@dataclass(frozen=True)
class _Unknown(Located):
    """A step kind the interpreter was never taught (one added to the model and not to it)."""


def test_unknown_step_kind_is_refused_loudly_not_run_as_exit(tmp_path: Path) -> None:
    journey = "trigger: {event: signup}\nsteps:\n  - {id: a, exit: {}}\n"
    project = build(tmp_path / "p", {"j": journey})
    engine = Engine(project)
    steps = engine.compiled.by_id["j"].steps
    steps["a"] = replace(steps["a"], action=_Unknown(loc=steps["a"].loc))
    with pytest.raises(AssertionError, match="_Unknown"):
        engine.step(new_state("u1"), Event("u1", "signup", 60.0, {}), 60.0)
