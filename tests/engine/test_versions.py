"""Several versions of a journey in one engine (the daemon after an apply): instances finish on
the version they started on, new entries take the latest."""

from __future__ import annotations

from pathlib import Path

from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, TimerFired
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.state import new_state
from tests.support.scenarios import EVERYONE, build

V1 = """trigger: {event: signup}
goal: {event: purchase, within: 1d}
steps:
  - {id: pause, wait: 1h}
  - {id: hello, send: {channel: email, template: e1}}
"""
V2 = """trigger: {event: signup}
goal: {event: purchase, within: 5d}
steps:
  - {id: pause, wait: 1h}
  - {id: hello, send: {channel: email, template: e2}}
"""


def test_old_instances_finish_on_their_version(tmp_path: Path) -> None:
    p1 = build(tmp_path / "v1", {"j": V1})
    p2 = build(tmp_path / "v2", {"j": V2})
    old = new_state("u1", EVERYONE)
    _, effects = Engine(p1, versions={"j": 1}).step(old, Event("u1", "signup", 0.0, {}), 0.0)
    timer = next(e for e in effects if isinstance(e, fx.SetTimer))

    engine = Engine(p2, versions={"j": 2}, older=[(p1.journey("j"), 1)])  # type: ignore[list-item]
    _, fired = engine.step(old, TimerFired("u1", timer.key, timer.token), 3600.0)
    assert [(e.template, e.journey) for e in fired if isinstance(e, fx.Send)] == [("e1", "j")]

    new = new_state("u2", EVERYONE)
    engine.step(new, Event("u2", "signup", 0.0, {}), 0.0)
    assert new.journeys["j"].active is not None and new.journeys["j"].active.version == 2
    _, fired = engine.step(new, TimerFired("u2", "j#1", new.journeys["j"].active.wait.token),
                           3600.0)
    assert [e.template for e in fired if isinstance(e, fx.Send)] == ["e2"]

    # each instance's own goal window: v1 converts within 1 day, v2 within 5
    _, late = engine.step(old, Event("u1", "purchase", 2 * 86400.0, {"amount": 1.0}),
                          2 * 86400.0)
    _, later = engine.step(new, Event("u2", "purchase", 2 * 86400.0, {"amount": 1.0}),
                           2 * 86400.0)
    assert not [e for e in late if isinstance(e, fx.Converted)]
    assert [e.journey for e in later if isinstance(e, fx.Converted)] == ["j"]


V3 = """trigger: {event: signup}
steps:
  - {id: nap, wait: 3h}
  - {id: ping, send: {channel: email, template: e3}}
"""


def test_migrate_moves_an_instance_to_the_new_version(tmp_path: Path) -> None:
    from journeyctl.engine.inputs import Migrate

    p1 = build(tmp_path / "v1", {"j": V1})
    p3 = build(tmp_path / "v3", {"j": V3})
    engine = Engine(p3, versions={"j": 2}, older=[(p1.journey("j"), 1)])  # type: ignore[list-item]
    # a wait of the same kind: it keeps waiting (same timer), now on version 2's step
    same = new_state("u1", EVERYONE)
    Engine(p1).step(same, Event("u1", "signup", 0.0, {}), 0.0)
    token = same.journeys["j"].active.wait.token  # type: ignore[union-attr]
    _, moved = engine.step(same, Migrate("u1", "j", 1, 2, "nap"), 60.0)
    inst = same.journeys["j"].active
    assert moved == [] and inst is not None and inst.version == 2
    assert inst.wait is not None and (inst.wait.step, inst.wait.token) == ("nap", token)
    _, fired = engine.step(same, TimerFired("u1", "j#1", token), 3600.0)
    assert [e.template for e in fired if isinstance(e, fx.Send)] == ["e3"]
    # another kind of step: it starts there afresh
    fresh = new_state("u2", EVERYONE)
    Engine(p1).step(fresh, Event("u2", "signup", 0.0, {}), 0.0)
    _, moved = engine.step(fresh, Migrate("u2", "j", 1, 2, "ping"), 60.0)
    assert [e.template for e in moved if isinstance(e, fx.Send)] == ["e3"]
    assert isinstance(moved[0], fx.CancelTimer)


def test_an_older_versions_cap_still_counts_earlier_sends(tmp_path: Path) -> None:
    # v1 caps its promotional sends at one a week; v2 only at one an hour. An instance still
    # on v1 must see its send of six hours ago, although v2's cap alone needs only an hour.
    capped = """trigger: {event: signup}
caps: [{max: 1, per: %s}]
steps:
  - {id: hello, send: {channel: email, template: e1}}
  - {id: pause, wait: 6h}
  - {id: again, send: {channel: email, template: e2}}
"""
    p1 = build(tmp_path / "v1", {"j": capped % "7d"})
    p2 = build(tmp_path / "v2", {"j": capped % "1h"})
    state = new_state("u1", EVERYONE)
    _, first = Engine(p1, versions={"j": 1}).step(state, Event("u1", "signup", 0.0, {}), 0.0)
    assert [e.step for e in first if isinstance(e, fx.Send)] == ["hello"]
    timer = next(e for e in first if isinstance(e, fx.SetTimer))

    engine = Engine(p2, versions={"j": 2}, older=[(p1.journey("j"), 1)])  # type: ignore[list-item]
    assert engine.compiled.cap_window == 7 * 86400
    _, fired = engine.step(state, TimerFired("u1", timer.key, timer.token), 6 * 3600.0)
    assert [e for e in fired if isinstance(e, fx.Send)] == []
    assert [e.reason for e in fired if isinstance(e, fx.Suppressed)] == ["cap:any/1/7d"]
