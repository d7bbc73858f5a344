"""Identity merge (`journeyctl.engine.merge`): another user's state folds into this one's,
the known user's values winning where both have one."""

from __future__ import annotations

from pathlib import Path

from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, Merge, TimerFired
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.merge import missing_attributes
from journeyctl.engine.state import new_state
from tests.support.scenarios import build

JOURNEY = """trigger: {event: signup}
steps:
  - {id: nap, wait: 1h}
  - {id: hello, send: {channel: email, template: e1}}
"""


def test_a_merged_instance_is_renumbered_and_its_wait_set_again(tmp_path: Path) -> None:
    engine = Engine(build(tmp_path, {"j": JOURNEY}))
    anon = new_state("anon", {"email": "anon@x", "plan": {"a": 1, "b": 2}})
    engine.step(anon, Event("anon", "signup", 100.0, {}), 100.0)
    known = new_state("known", {"email": "known@x", "plan": {"a": 9}})
    known.journey("j").entered = 2  # two instances of its own before, ended
    _, out = engine.step(known, Merge("known", "anon", anon), 200.0)
    moved = [e for e in out if type(e) is fx.InstanceMoved]
    assert moved == [fx.InstanceMoved("known", "j", 3, 1, "nap", 100.0, "anon")]
    timers = [e for e in out if type(e) is fx.SetTimer]
    assert [(t.key, t.due) for t in timers] == [("j#3", 3700.0)]
    assert known.profile == {"email": "known@x", "plan": {"a": 9, "b": 2}, "user_id": "known"}
    # the wait fires for the known user, whose instance goes on to the send
    _, fired = engine.step(known, TimerFired("known", timers[0].key, timers[0].token), 3700.0)
    assert [(s.user_id, s.instance, s.step) for s in fired if type(s) is fx.StepReached] == [
        ("known", 3, "hello")]


def test_the_known_users_running_instance_wins(tmp_path: Path) -> None:
    engine = Engine(build(tmp_path, {"j": JOURNEY}))
    anon, known = new_state("anon"), new_state("known")
    engine.step(anon, Event("anon", "signup", 100.0, {}), 100.0)
    engine.step(known, Event("known", "signup", 150.0, {}), 150.0)
    _, out = engine.step(known, Merge("known", "anon", anon), 200.0)
    assert [e for e in out if type(e) in (fx.InstanceMoved, fx.SetTimer)] == []
    assert known.journeys["j"].active is not None and known.journeys["j"].active.number == 1


def test_missing_attributes_are_what_the_known_profile_lacks() -> None:
    assert missing_attributes({"a": 1, "b": {"c": 2, "d": 3}, "e": 4},
                              {"a": 0, "b": {"c": 0}}) == {"b": {"d": 3}, "e": 4}
