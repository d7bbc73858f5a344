"""Identity merge: another user's state folds into this user's (`Merge`; the daemon's two-step
merge of an anonymous visitor into the user they logged in as, docs/daemon.md).

The known user's own values win wherever both have one: their profile attributes, their
running instance of a journey (the other's running instance of that journey is dropped), their
pending inactivity timer. Everything else of the other user joins: their instances, renumbered
after the known user's (a message's idempotency key names the instance), their waits set
again at the same due times, their counted events, latest events and promotional sends, and
the profile attributes the known user lacks.
"""

from __future__ import annotations

from bisect import insort
from typing import Any

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.engine.compiled import Compiled
from journeyctl.engine.inputs import Merge
from journeyctl.engine.state import JourneyState, UserState, merge_profile

INACTIVE = "inactive"  # (the interpreter's timer key suffix of an `inactive` trigger)


def fold(state: UserState, merge: Merge, compiled: Compiled, now: float,
         out: list[fx.Effect]) -> None:
    taken = merge.taken
    missing = missing_attributes(taken.profile, state.profile)
    missing.pop("user_id", None)
    if missing:
        merge_profile(state.profile, missing)
        out.append(fx.ProfileUpdated(state.user_id, missing, now))
    for journey_id, theirs in taken.journeys.items():
        _journey(state, journey_id, theirs, merge.source, compiled, out)
    for name, times in taken.history.items():
        mine = state.own("history").setdefault(name, [])
        for when in times:
            insort(mine, when)
    for name, (when, props) in taken.latest.items():
        known = state.latest.get(name)
        if known is None or when > known[0]:
            state.own("latest")[name] = (when, props)
    if taken.promotional:
        sends = state.own("promotional")
        sends.extend(taken.promotional)
        sends.sort()


def _journey(state: UserState, journey_id: str, theirs: JourneyState, source: str,
             compiled: Compiled, out: list[fx.Effect]) -> None:
    mine = state.journey(journey_id)
    offset = mine.entered
    mine.entered += theirs.entered
    mine.last_entered_at = _latest(mine.last_entered_at, theirs.last_entered_at)
    for inst in theirs.recent:
        inst.number += offset
        mine.recent.append(inst)
    active = theirs.active
    if active is not None and mine.active is None:
        active.number += offset
        mine.active = active
        wait = active.wait
        out.append(fx.InstanceMoved(state.user_id, journey_id, active.number, active.version,
                                    wait.step if wait is not None else None,
                                    active.entered_at, source))
        if wait is not None:
            wait.token = state.next_token()
            out.append(fx.SetTimer(state.user_id, f"{journey_id}#{active.number}", wait.token,
                                   wait.due))
    if theirs.last_activity is not None:
        _activity(state, journey_id, mine, theirs, compiled, out)


def _activity(state: UserState, journey_id: str, mine: JourneyState, theirs: JourneyState,
              compiled: Compiled, out: list[fx.Effect]) -> None:
    """An `inactive` trigger's quiet spell: the later activity of the two counts; the known
    user's pending timer stays, or the other's is set again."""
    assert theirs.last_activity is not None
    last = max(mine.last_activity or theirs.last_activity, theirs.last_activity)
    mine.last_activity = last
    if last == theirs.last_activity:
        mine.spell_fired = theirs.spell_fired
    cj = compiled.by_id.get(journey_id)
    trigger = cj.journey.trigger if cj is not None else None
    if theirs.timer_token and not mine.timer_token and isinstance(trigger, m.InactiveTrigger):
        mine.timer_token = state.next_token()
        out.append(fx.SetTimer(state.user_id, f"{journey_id}#{INACTIVE}", mine.timer_token,
                               last + trigger.after.seconds))


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def missing_attributes(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """What `under` has that `over` lacks, nested objects key by key: merged into `over`, the
    values of `over` win."""
    missing: dict[str, Any] = {}
    for key, value in under.items():
        if key not in over:
            missing[key] = value
        elif isinstance(value, dict) and isinstance(over[key], dict):
            nested = missing_attributes(value, over[key])
            if nested:
                missing[key] = nested
    return missing

