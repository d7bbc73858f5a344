"""The per-user state, profiles and event properties survive a round trip through JSON
exactly, whatever keys the user's dicts have."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from journeyctl.engine.state import Instance, JourneyState, Wait, new_state
from journeyctl.state.codec import decode, dumps, encode, loads


def test_round_trip() -> None:
    when = dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC)
    state = new_state("u1", {"last_order_at": when, "consent": {"email": True}})
    inst = Instance(2, 10.0, {"price": 3}, {"at": when}, 4, wait=Wait("wait_for", "w", 99.0, 7,
                                                                     "click"),
                    visits={"a": 2}, loops={"l": 1}, variants={"ab": "x"},
                    sent=[("s", "email", "t", 5.0)])
    state.journeys["j"] = JourneyState(entered=2, last_entered_at=10.0, active=inst,
                                       recent=[Instance(1, 1.0, {}, {}, 3, ended="completed")],
                                       last_activity=8.0, spell_fired=True, timer_token=5)
    state.own("history")["view"] = [1.0, 2.0]
    state.own("latest")["click"] = (3.0, {"kind": "x", "at": when})
    state.own("promotional").append((4.0, "email", "j"))
    state.tokens = 9
    again = decode(encode(state), state.profile)
    assert again == state
    assert again.journeys["j"].active.last_event["at"] == when  # type: ignore[union-attr]
    assert not again.journeys["j"].recent[0].active


def test_empty_state_round_trip() -> None:
    state = new_state("u2")
    assert decode(encode(state), state.profile) == state


def test_user_dicts_that_look_like_markers_round_trip() -> None:
    when = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)
    values = [{"$dt": "2024-03-04T09:30:00+00:00"}, {"$dt": "not a date"}, {"$lit": 5},
              {"$lit": {"$dt": when}}, {"$dt": {"$lit": "x"}}, {"$dt": when, "b": 1},
              [{"$dt": "x"}, when]]
    for value in values:
        assert loads(dumps(value)) == value, value
    assert loads(dumps({"$dt": "2024"})) == {"$dt": "2024"}  # a str, not a datetime


def test_reads_the_old_format() -> None:
    """Files written before escaping hold {"$dt": iso} for real datetimes only."""
    when = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)
    assert loads(b'{"at": {"$dt": "2024-03-04T09:30:00+00:00"}, "n": [1]}') == {"at": when,
                                                                               "n": [1]}
    assert loads(b'{"$lit": 5}') == {"$lit": 5}
    assert loads('{"x": {"$dt": "not iso"}}') == {"x": {"$dt": "not iso"}}  # no crash


KEYS = st.one_of(st.sampled_from(["$dt", "$lit", "a", "$"]), st.text(max_size=5))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["2024-03-04T09:30:00+00:00", "$dt", "$lit"]),
    st.datetimes(timezones=st.just(dt.UTC)), st.datetimes())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=12)


@given(VALUES)
@settings(max_examples=400, deadline=None)
def test_any_value_round_trips(value: object) -> None:
    assert loads(dumps(value)) == value
    assert loads(dumps(value).decode()) == value


def test_reads_a_state_written_with_the_active_flag() -> None:
    """States saved before `active` became `ended is None` still read."""
    state = new_state("u1", {})
    state.journeys["j"] = JourneyState(entered=1, recent=[Instance(1, 1.0, {}, {}, 1,
                                                                   ended="goal")])
    data = encode(state).replace(b'"version":1,', b'"version":1,"active":false,')
    assert b'"active":false' in data
    again = decode(data, state.profile)
    assert again.journeys["j"].recent[0].ended == "goal"
