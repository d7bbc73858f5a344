"""The per-user state survives a round trip through JSON exactly."""

from __future__ import annotations

import datetime as dt

from journeyctl.engine.interpreter import new_state
from journeyctl.engine.state import Instance, JourneyState, Wait
from journeyctl.state.codec import decode, encode


def test_round_trip() -> None:
    when = dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC)
    state = new_state("u1", {"last_order_at": when, "consent": {"email": True}})
    inst = Instance(2, 10.0, {"price": 3}, {"at": when}, 4, wait=Wait("wait_for", "w", 99.0, 7,
                                                                     "click"),
                    visits={"a": 2}, loops={"l": 1}, variants={"ab": "x"},
                    sent=[("s", "email", "t", 5.0)])
    state.journeys["j"] = JourneyState(entered=2, last_entered_at=10.0, active=inst,
                                       recent=[Instance(1, 1.0, {}, {}, 3, active=False,
                                                        ended="completed")],
                                       last_activity=8.0, spell_fired=True, timer_token=5)
    state.own("history")["view"] = [1.0, 2.0]
    state.own("latest")["click"] = (3.0, {"kind": "x", "at": when})
    state.own("promotional").append((4.0, "email", "j"))
    state.tokens = 9
    again = decode(encode(state), state.profile)
    assert again == state
    assert again.journeys["j"].active.last_event["at"] == when  # type: ignore[union-attr]


def test_empty_state_round_trip() -> None:
    state = new_state("u2")
    assert decode(encode(state), state.profile) == state
