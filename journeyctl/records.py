"""Records checked against the catalog, whichever host reads them (SPEC §3).

An event (`parse_event`) or a profile (`parse_profile`) comes from a file line in the
simulator, from a journey test's scenario, or from the daemon's API: the checks are the same.
Values are checked against the catalog: a declared property of the wrong type, or a missing
required one, rejects the record with a reason; `timestamp` properties become datetimes.
Profile lines, and the properties an `identify` event merges into the profile, are checked
against the catalog's profile attributes the same way (`check_attributes`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from journeyctl.model import Attr, Catalog


@dataclass(slots=True)
class Record:
    """An accepted event. `file` is the index of its file on the command line."""

    time: float
    file: int
    line: int
    user_id: str
    name: str
    properties: dict[str, Any]
    event_id: str | None



# Epoch seconds a datetime can hold in any zone (years 1 to 9999, a day inside either end);
# a number outside is no time.
_FIRST_SECOND = dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp()
_LAST_SECOND = dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp()


class TimeOutOfRange(ValueError):
    pass


class TimeParser:
    """RFC 3339 timestamps (naive ones in the project zone) or epoch seconds -> epoch seconds,
    with a small cache: event logs repeat timestamps (CDNOW has dates only). Raises ValueError
    (TimeOutOfRange for a number outside years 1-9999, NaN included)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[str, float] = {}

    def __call__(self, value: Any) -> float:
        if isinstance(value, str):
            found = self._cache.get(value)
            if found is not None:
                return found
            parsed = dt.datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self.tz)
            seconds = parsed.timestamp()
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[value] = seconds
            return seconds
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)  # epoch seconds
            if not _FIRST_SECOND <= seconds <= _LAST_SECOND:  # NaN fails this too
                millis = _FIRST_SECOND <= seconds / 1000 <= _LAST_SECOND
                raise TimeOutOfRange(f"timestamp {value!r} is out of range (years 1-9999)"
                                     + (": send epoch seconds, not milliseconds" if millis
                                        else ""))
            return seconds
        raise ValueError("timestamp must be RFC 3339 text (or epoch seconds)")

    def datetime(self, value: Any) -> dt.datetime:
        return dt.datetime.fromtimestamp(self(value), dt.UTC)


# --- property checks against the catalog -----------------------------------------------------


def _check_value(attr: Attr, value: Any, parse_time: TimeParser) -> Any:
    """The value, converted where the catalog says so; raises ValueError when it does not fit."""
    kind = attr.type
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "list" and isinstance(value, list):
        return value
    if kind == "object" and isinstance(value, dict):
        return value
    if kind == "timestamp":
        try:
            return parse_time.datetime(value)
        except (ValueError, TypeError):
            pass
    raise ValueError(f"is {_json_type(value)}, the catalog says {kind}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


# Types whose JSON values need no conversion: checking them is one `type(value) in ...`.
_PLAIN = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
          "list": (list,), "object": (dict,)}


def check_properties(catalog: Catalog, name: str, props: dict[str, Any],
                     parse_time: TimeParser) -> dict[str, Any] | str:
    """Properties checked against the event's catalog entry; a reason string when rejected.
    Events the catalog does not know are accepted as they are (SPEC §3)."""
    definition = catalog.events.get(name)
    if definition is None or not definition.properties:
        return props
    checked = props
    for key, attr in definition.properties.items():
        value = props.get(key)
        if value is None:
            if attr.required:
                return f"event '{name}' needs property '{key}'"
            continue
        if type(value) in _PLAIN.get(attr.type, ()):
            continue  # the common case: already the right JSON type
        try:
            converted = _check_value(attr, value, parse_time)
        except ValueError as exc:
            return f"property '{key}' {exc}"
        if converted is not value:
            if checked is props:
                checked = dict(props)
            checked[key] = converted
    return checked


def check_attributes(declared: Mapping[str, Attr], values: dict[str, Any],
                     parse_time: TimeParser, undeclared: list[str] | None = None,
                     prefix: str = "") -> dict[str, Any] | str:
    """Profile attributes checked against the catalog's declarations, or the reason they are
    rejected (`attribute 'consent.email' is text, the catalog says boolean`). Declared
    timestamps become datetimes (a copy is made, `values` is not changed); the fields of a
    declared `object` are checked too when it declares them. The paths of attributes the
    catalog does not declare are appended to `undeclared`: they are kept, not rejected."""
    checked = values
    for key, value in values.items():
        path = prefix + key
        attr = declared.get(key)
        if attr is None:
            if "." in key and key.split(".", 1)[0] in declared:
                return dotted_key(path, key, value)
            if undeclared is not None:
                undeclared.append(path)
            continue
        if value is None:
            continue  # null is accepted whatever the type, as in events
        converted = value
        if type(value) not in _PLAIN.get(attr.type, ()):
            try:
                converted = _check_value(attr, value, parse_time)
            except ValueError as exc:
                return f"attribute '{path}' {exc}"
        if attr.type == "object" and attr.fields is not None:
            converted = check_attributes(attr.fields, converted, parse_time, undeclared,
                                         path + ".")
            if isinstance(converted, str):
                return converted
        if converted is not value:
            if checked is values:
                checked = dict(values)
            checked[key] = converted
    return checked


def dotted_key(path: str, key: str, value: Any) -> str:
    """The reason for a key such as "consent.email" beside a declared `consent`: a JSON record
    nests (only CSV columns are dotted), so as written it would be a new attribute named with
    a dot, and the declared one would go unset."""
    nested: Any = value if len(orjson.dumps(value, default=str)) <= 40 else "..."
    for part in reversed(key.split(".")):
        nested = {part: nested}
    shown = json.dumps(nested, ensure_ascii=False, default=str)  # spaced, for people
    return f"attribute '{path}' is written as one key with a dot; write it nested: {shown}"


# --- events ------------------------------------------------------------------------------------


IDENTIFY = "identify"


def parse_event(raw: Any, catalog: Catalog, parse_time: TimeParser, index: int = 0,
                line: int = 0) -> Record | str:
    """One event record (the file format, also the daemon's API) or the reason it is
    rejected. An `event_id` is text or an integer (kept as text); a numeric timestamp is epoch
    seconds within years 1-9999."""
    if type(raw) is not dict:
        return "a record must be a JSON object"
    user_id, name, stamp = raw.get("user_id"), raw.get("event"), raw.get("timestamp")
    if type(user_id) is not str:
        if type(user_id) is not int:
            return "missing user_id"
        user_id = str(user_id)
    if not user_id:
        return "missing user_id"
    if type(name) is not str or not name:
        return "missing event"
    if stamp is None or stamp == "":
        return "missing timestamp"
    try:
        time = parse_time(stamp)
    except TimeOutOfRange as exc:
        return str(exc)
    except (ValueError, TypeError, OverflowError):
        return f"unparseable timestamp {str(stamp)[:40]!r}"
    event_id = raw.get("event_id")
    if type(event_id) is not str and event_id is not None:
        if type(event_id) is not int:
            return "event_id must be text or an integer"
        event_id = str(event_id)
    elif event_id == "":
        return "event_id is empty: leave it out, or give text or an integer"
    props = raw.get("properties") or {}
    if type(props) is not dict:
        return "properties must be an object"
    checked = event_properties(catalog, name, props, parse_time)
    if isinstance(checked, str):
        return checked
    return Record(time, index, line, user_id, name, checked, event_id)


def event_properties(catalog: Catalog, name: str, props: dict[str, Any],
                     parse_time: TimeParser) -> dict[str, Any] | str:
    """An event's properties checked against its catalog entry (`check_properties`) and, for
    `identify`, against the profile attributes they become (SPEC §3: typed as a profile
    line's are); the reason when rejected. Every host and journey tests check events so."""
    checked = check_properties(catalog, name, props, parse_time)
    if isinstance(checked, str) or name != IDENTIFY or not checked:
        return checked
    checked = check_attributes(catalog.profile, checked, parse_time)
    return f"profile {checked}" if isinstance(checked, str) else checked


# --- profiles ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """An accepted profile record. `undeclared`: the paths of its attributes the catalog does
    not declare (kept, and counted)."""

    user_id: str
    attributes: dict[str, Any]
    undeclared: tuple[str, ...] = ()


@dataclass
class Undeclared:
    """How many profile records held attributes the catalog does not declare, and which."""

    lines: int = 0
    names: Counter[str] = field(default_factory=Counter)

    def add(self, names: tuple[str, ...]) -> None:
        if names:
            self.lines += 1
            self.names.update(names)

    def merge(self, other: Undeclared) -> None:
        self.lines += other.lines
        self.names.update(other.names)

    def as_json(self, top: int = 20) -> dict[str, Any]:
        """The report's shape: the count and the `top` most frequent names (ties by name)."""
        ranked = sorted(self.names.items(), key=lambda item: (-item[1], item[0]))[:top]
        return {"lines": self.lines, "attributes": dict(ranked)}


MISSING_USER = "missing user_id"


def parse_profile(raw: dict[str, Any] | str, catalog: Catalog, parse_time: TimeParser
                  ) -> Profile | str:
    """A profile record (a file's line, or one of the daemon's API) checked against the
    catalog's profile attributes (`check_attributes`), or the reason it is rejected."""
    if isinstance(raw, str):
        return raw
    attrs = dict(raw)
    user_id = attrs.pop("user_id", None)
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id:
        return MISSING_USER
    undeclared: list[str] = []
    checked = check_attributes(catalog.profile, attrs, parse_time, undeclared)
    if isinstance(checked, str):
        return checked
    return Profile(user_id, checked, tuple(undeclared))
