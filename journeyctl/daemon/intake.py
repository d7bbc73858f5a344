"""Checking what the API is sent: event and profile records, before anything is stored.

The records are those of the event and profile files (SPEC §3), checked by the same code as
`simulate` reads them with, plus what only a live API needs: unknown fields are refused (a typo
in a field name would otherwise lose data silently), and an event stamped too far in the future
is refused (a clock or unit error — milliseconds sent as seconds — that would corrupt
`count()` windows and reports). Limits keep one request from costing the daemon more than its
size: a record nested deeper than MAX_DEPTH, or an id or event name longer than MAX_ID_BYTES, is
refused here, so what is acknowledged can be stored and run (the state codec and the engine stop
far above these limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journeyctl.model import Catalog
from journeyctl.records import TimeParser, Undeclared, parse_event, parse_profile

EVENT_FIELDS = frozenset({"event_id", "user_id", "event", "timestamp", "properties"})
MAX_RECORDS = 10_000  # per request
MAX_DEPTH = 32  # levels of objects and arrays in one record, the record itself the first
MAX_ID_BYTES = 256  # UTF-8 bytes of a user_id, an event_id or an event name
RESERVED = "$"  # the prefix of the inbox's own inputs (`journeyctl.daemon.core.ALIAS`, MERGE)


@dataclass(frozen=True)
class Problem:
    index: int
    error: str
    event_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "error": self.error}
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


class BadRequest(Exception):
    """The request as a whole is unusable (not the expected shape)."""


def records(body: Any, key: str, single: str | None = None) -> list[Any]:
    """The records of a request: `{"<key>": [...]}`, or one bare record when `single` names a
    field only a bare record has."""
    if not isinstance(body, dict):
        raise BadRequest(f'the body must be a JSON object: {{"{key}": [...]}}')
    if key in body:
        extra = sorted(set(body) - {key})
        if extra:
            raise BadRequest(f"unknown field {extra[0]!r} next to {key!r}: send only "
                             f'{{"{key}": [...]}}')
        items = body[key]
        if not isinstance(items, list):
            raise BadRequest(f"{key!r} must be a list")
        if not items:
            raise BadRequest(f"{key!r} is empty: send at least one record")
        if len(items) > MAX_RECORDS:
            raise BadRequest(f"{len(items)} records in one request; the limit is "
                             f"{MAX_RECORDS}: split the batch")
        return items
    if single is not None and single in body:
        return [body]
    expected = f'{{"{key}": [...]}}' + (" or one record" if single else "")
    raise BadRequest(f"expected {expected}")


def check_events(items: list[Any], catalog: Catalog, parse_time: TimeParser, now: float,
                 max_future: float) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The valid events (as inbox rows) and a problem for each invalid one."""
    valid: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for index, raw in enumerate(items):
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        # echoed only when it is an id: a nested one would be the attacker's text back, and
        # str() of one nested a thousand deep overflows the stack
        shown_id = str(event_id) if type(event_id) in (str, int) else None
        error = _event_error(raw, catalog, parse_time, now, max_future)
        if isinstance(error, str):
            problems.append(Problem(index, error, shown_id))
        else:
            valid.append(error)
    return valid, problems


def _event_error(raw: Any, catalog: Catalog, parse_time: TimeParser, now: float,
                 max_future: float) -> dict[str, Any] | str:
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - EVENT_FIELDS)
        if unknown:
            return (f"unknown field {unknown[0]!r}: an event has "
                    f"{', '.join(sorted(EVENT_FIELDS))} (put custom data in 'properties')")
        too_big = _over_limits(raw, ("user_id", "event_id", "event"))
        if too_big:
            return too_big
        name = raw.get("event")
        if type(name) is str and name.startswith(RESERVED):
            return (f"event {name!r}: names starting with {RESERVED!r} are the daemon's own "
                    "(identity merge): rename the event")
    record = parse_event(raw, catalog, parse_time)
    if isinstance(record, str):
        return record
    ahead = record.time - now
    if ahead > max_future:
        return (f"timestamp is {_duration(ahead)} in the future (at most "
                f"{_duration(max_future)} is allowed): send the time the event happened, as "
                "RFC 3339 or epoch seconds (not milliseconds)")
    return {"event_id": record.event_id, "user_id": record.user_id, "event": record.name,
            "time": record.time, "properties": record.properties}


def check_internal(user_id: str, name: str, stamp: Any, event_id: str | None,
                   properties: dict[str, Any], parse_time: TimeParser) -> dict[str, Any] | str:
    """An inbox row of the daemon's own (an identity merge: `journeyctl.daemon.core.ALIAS`),
    its ids and time checked as an event's are; the reason when refused."""
    too_big = _over_limits({"user_id": user_id, "event_id": event_id}, ("user_id", "event_id"))
    if too_big:
        return too_big
    try:
        time = parse_time(stamp)
    except (ValueError, TypeError, OverflowError):
        return f"unparseable timestamp {str(stamp)[:40]!r}"
    return {"event_id": event_id, "user_id": user_id, "event": name, "time": time,
            "properties": properties}


def user_ids(body: Any) -> tuple[list[str], str | None]:
    """The body of the suppression list's writes: `{"user_ids": [...], "reason": "..."}` (the
    reason optional, kept with each added user). A list the request cannot be taken from is a
    BadRequest naming the first bad id: nothing is written then."""
    if not isinstance(body, dict) or not isinstance(body.get("user_ids"), list):
        raise BadRequest('the body must be a JSON object: {"user_ids": ["u1", ...], '
                         '"reason": "optional text"}')
    extra = sorted(set(body) - {"user_ids", "reason"})
    if extra:
        raise BadRequest(f"unknown field {extra[0]!r}: send user_ids and (optionally) reason")
    users, reason = body["user_ids"], body.get("reason")
    if len(users) > MAX_RECORDS:
        raise BadRequest(f"{len(users)} user ids in one request; the limit is {MAX_RECORDS}: "
                         "split the list")
    for index, user in enumerate(users):
        if type(user) is not str or not user:
            raise BadRequest(f"user_ids[{index}] must be a non-empty string")
        too_big = _over_limits({"user_id": user}, ("user_id",))
        if too_big:
            raise BadRequest(f"user_ids[{index}]: {too_big}")
    if reason is not None and (type(reason) is not str or len(reason) > 200):
        raise BadRequest("reason must be a string of at most 200 characters")
    return users, reason


def check_profiles(items: list[Any], catalog: Catalog, parse_time: TimeParser
                   ) -> tuple[list[dict[str, Any]], list[Problem], Undeclared]:
    """The valid profiles, a problem for each invalid one (a declared attribute of the wrong
    type refuses the whole profile), and the attributes the catalog does not declare (kept)."""
    valid: list[dict[str, Any]] = []
    problems: list[Problem] = []
    undeclared = Undeclared()
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            problems.append(Problem(index, "a profile must be a JSON object with a user_id"))
            continue
        too_big = _over_limits(raw, ("user_id",))
        if too_big:
            problems.append(Problem(index, too_big))
            continue
        parsed = parse_profile(raw, catalog, parse_time)
        if isinstance(parsed, str):
            problems.append(Problem(index, parsed))
            continue
        undeclared.add(parsed.undeclared)
        valid.append({**parsed.attributes, "user_id": parsed.user_id})
    return valid, problems, undeclared


def _over_limits(raw: dict[str, Any], ids: tuple[str, ...]) -> str | None:
    """Why a record is over the size limits, or None."""
    if _too_deep(raw, MAX_DEPTH):
        return (f"nested more than {MAX_DEPTH} levels deep (objects and arrays, the record "
                "itself the first): flatten the properties")
    for key in ids:
        value = raw.get(key)
        # PostgreSQL text cannot hold NUL: refused on every store, so both answer the same
        if type(value) is str and "\x00" in value:
            return f"{key} holds a NUL character (\\u0000), which an id cannot hold"
        # a character is at most 4 bytes: most values need no encoding to be measured
        if type(value) is str and len(value) * 4 > MAX_ID_BYTES \
                and (size := len(value.encode())) > MAX_ID_BYTES:
            return f"{key} is {size} bytes long; the limit is {MAX_ID_BYTES}"
    return None


def _too_deep(value: Any, room: int) -> bool:
    """More than `room` levels of objects and arrays in `value`. It looks no deeper than the
    limit, so a hostile record costs no more than its size (and never Python's recursion
    limit)."""
    if type(value) is dict:
        children: Any = value.values()
    elif type(value) is list:
        children = value
    else:
        return False
    if room == 0:
        return True
    return any(_too_deep(child, room - 1) for child in children
               if type(child) is dict or type(child) is list)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
