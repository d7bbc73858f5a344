"""The built-in `journeyctl.unsubscribe` event (a one-click unsubscribe link, docs/daemon.md):
it turns the named channel's consent attribute false before any journey sees the event, with
no catalog entry and no `subscriptions:` setting; a replayed log holding it is read without a
complaint and gives the same answer."""

from __future__ import annotations

import json
from pathlib import Path

from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.state import UserState
from journeyctl.model import UNSUBSCRIBE
from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from tests.support.scenarios import EVERYONE, Runner, at, build, sends, suppressions

PROMO = """trigger: {event: signup}
steps:
  - {id: first, send: {channel: email, template: e1}}
  - {id: later, wait: 1h}
  - {id: second, send: {channel: email, template: e2}}
  - {id: sms, send: {channel: sms, template: s1}}
  - {id: receipt, send: {channel: email, template: e3, category: transactional}}
"""


def test_the_event_turns_off_the_named_channel_only(scenario: Runner) -> None:
    out = scenario({"promo": PROMO}, [
        ("2024-03-04 09:00", "u1", "signup"),
        ("2024-03-04 09:30", "u1", UNSUBSCRIBE, {"channel": "email", "source": "one-click"}),
    ], until="2024-03-05 00:00")
    # sent before the unsubscribe; after it, promotional email is refused, SMS and the
    # transactional email still go
    assert [s[2:] for s in sends(out)] == [("first", "email:e1"), ("sms", "sms:s1"),
                                           ("receipt", "email:e3")]
    assert [s[2:] for s in suppressions(out)] == [("second", "no_consent")]
    updates = out.of(fx.ProfileUpdated)
    assert [(u.changes, u.journey) for u in updates] == [({"consent": {"email": False}}, None)]


def test_it_applies_before_a_journey_the_event_triggers(tmp_path: Path) -> None:
    """A journey triggered by the event itself already finds the consent off."""
    project = build(tmp_path / "p", {"bye": f"""trigger: {{event: {UNSUBSCRIBE}}}
steps:
  - {{id: promo, send: {{channel: email, template: e1}}}}
"""})
    engine = Engine(project)
    state = UserState("u1", profile=json.loads(json.dumps(EVERYONE)))
    now = at("2024-03-04 09:00")
    state, out = engine.step(state, Event("u1", UNSUBSCRIBE, now, {"channel": "email"}), now)
    assert state.profile["consent"] == {"email": False, "sms": True, "push": True}
    kinds = [type(e).__name__ for e in out]
    assert kinds.index("ProfileUpdated") < kinds.index("Entered")
    assert [e.reason for e in out if isinstance(e, fx.Suppressed)] == ["no_consent"]


def test_unknown_channel_or_missing_property_changes_nothing(tmp_path: Path) -> None:
    project = build(tmp_path / "p", {"promo": PROMO})
    engine = Engine(project)
    now = at("2024-03-04 09:00")
    for props in ({}, {"channel": "fax"}, {"channel": 3}, {"channel": "hook"}):  # hook: no consent
        state = UserState("u1", profile=json.loads(json.dumps(EVERYONE)))
        state, out = engine.step(state, Event("u1", UNSUBSCRIBE, now, props), now)
        assert state.profile["consent"] == EVERYONE["consent"], props
        assert not [e for e in out if isinstance(e, fx.ProfileUpdated)], props


def test_a_replayed_log_with_the_event_is_read_without_complaint(tmp_path: Path) -> None:
    project = build(tmp_path / "p", {"promo": PROMO})
    assert UNSUBSCRIBE not in project.catalog.events
    t0 = at("2024-03-04 09:00")
    events = tmp_path / "events.jsonl"
    profiles = tmp_path / "profiles.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in [
        {"event_id": "s1", "user_id": "u1", "event": "signup", "timestamp": t0},
        {"event_id": "unsubscribe:abc", "user_id": "u1", "event": UNSUBSCRIBE,
         "timestamp": t0 + 60, "properties": {"channel": "email", "source": "one-click"}},
    ]), encoding="utf-8")
    profiles.write_text(json.dumps({"user_id": "u1", **EVERYONE}) + "\n", encoding="utf-8")
    result = simulate(project, [events], profiles, Options(until=t0 + 86400))
    assert result.messages is not None
    sent = sorted((m.step, m.channel) for m in result.messages.ordered())
    result.messages.close()
    assert sent == [("first", "email"), ("receipt", "email"), ("sms", "sms")]
    assert result.report["events"]["rejected"] == 0
    promo = result.report["journeys"]["promo"]
    assert promo["steps"]["second"]["suppressed"] == {"no_consent": 1}
