"""The engine's per-user state as JSON, for the daemon's `user_state` table.

JSON rather than pickle: the state of a running user outlives a code upgrade, and stays
readable with `sqlite3`. Datetimes (timestamp attributes and properties) are written as
`{"$dt": "<RFC 3339>"}` and read back as datetimes; a dict of the user's whose only key is
`$dt` or `$lit` is written as `{"$lit": {...}}`, so that every value reads back exactly. The
profile is not in here: it lives in the `profiles` table, where the API updates it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from journeyctl.engine.state import Instance, JourneyState, UserState, Wait

FORMAT = 1


MARKERS = ("$dt", "$lit")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _escape(value: Any) -> Any:
    """Datetimes as {"$dt": ...}, and a dict of the user's whose one key is a marker wrapped as
    {"$lit": dict}, so that it does not read back as a datetime."""
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dict):
        escaped = {k: _escape(v) for k, v in value.items()}
        return {"$lit": escaped} if len(value) == 1 and next(iter(value)) in MARKERS \
            else escaped
    if isinstance(value, list | tuple):
        return [_escape(v) for v in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            key, inner = next(iter(value.items()))
            if key == "$dt" and isinstance(inner, str):
                try:
                    return dt.datetime.fromisoformat(inner)
                except ValueError:  # not ours: an old file kept a user dict as it was
                    return value
            if key == "$lit" and isinstance(inner, dict) and len(inner) == 1 \
                    and next(iter(inner)) in MARKERS:
                return {k: _restore(v) for k, v in inner.items()}
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    data = orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    # without a marker in the output there is no datetime and no dict to escape: done (the
    # common case); otherwise walk the value once
    if b'"$dt"' in data or b'"$lit"' in data:
        return orjson.dumps(_escape(value), default=_default,
                            option=orjson.OPT_PASSTHROUGH_DATETIME)
    return data


def loads(data: bytes | str) -> Any:
    value = orjson.loads(data)
    # most states hold no datetime: skip walking them (a third of a timer fire's cost)
    markers = (b'"$dt"', b'"$lit"') if isinstance(data, bytes) else ('"$dt"', '"$lit"')
    # `markers` is of data's type (bytes or str), which mypy cannot pair
    return _restore(value) if any(m in data for m in markers) else value  # type: ignore[operator]


def _instance(inst: Instance) -> dict[str, Any]:
    wait = inst.wait
    return {
        "number": inst.number, "entered_at": inst.entered_at, "entry": inst.entry,
        "last_event": inst.last_event, "version": inst.version,
        "converted": inst.converted, "ended": inst.ended,
        "wait": None if wait is None else [wait.kind, wait.step, wait.due, wait.token,
                                           wait.event],
        "visits": inst.visits, "loops": inst.loops, "variants": inst.variants,
        "sent": inst.sent,
    }


def _read_instance(raw: dict[str, Any]) -> Instance:
    wait = raw["wait"]
    return Instance(
        number=raw["number"], entered_at=raw["entered_at"], entry=raw["entry"],
        last_event=raw["last_event"], version=raw["version"],
        converted=raw["converted"], ended=raw["ended"],
        wait=Wait(*wait) if wait is not None else None, visits=raw["visits"],
        loops=raw["loops"], variants=raw["variants"],
        # stored as JSON arrays of (step, channel, template, time): tuples again
        sent=[tuple(s) for s in raw["sent"]],  # type: ignore[misc]
    )


def encode(state: UserState) -> bytes:
    journeys = {}
    for journey_id, js in state.journeys.items():
        journeys[journey_id] = {
            "entered": js.entered, "last_entered_at": js.last_entered_at,
            "active": _instance(js.active) if js.active is not None else None,
            "recent": [_instance(i) for i in js.recent], "last_activity": js.last_activity,
            "spell_fired": js.spell_fired, "timer_token": js.timer_token,
        }
    return dumps({
        "format": FORMAT, "user_id": state.user_id, "journeys": journeys,
        "history": dict(state.history), "latest": dict(state.latest),
        "promotional": list(state.promotional), "tokens": state.tokens,
    })


def decode(data: bytes | str, profile: dict[str, Any]) -> UserState:
    raw = loads(data)
    if raw.get("format") != FORMAT:
        raise ValueError(f"user state format {raw.get('format')!r} is not {FORMAT}")
    state = UserState(user_id=raw["user_id"], profile=profile, tokens=raw["tokens"])
    for journey_id, js in raw["journeys"].items():
        state.journeys[journey_id] = JourneyState(
            entered=js["entered"], last_entered_at=js["last_entered_at"],
            active=_read_instance(js["active"]) if js["active"] is not None else None,
            recent=[_read_instance(i) for i in js["recent"]],
            last_activity=js["last_activity"], spell_fired=js["spell_fired"],
            timer_token=js["timer_token"],
        )
    if raw["history"]:
        state.own("history").update(raw["history"])
    if raw["latest"]:
        state.own("latest").update({k: (v[0], v[1]) for k, v in raw["latest"].items()})
    if raw["promotional"]:
        state.own("promotional").extend(tuple(p) for p in raw["promotional"])
    return state
