"""Per-user state: the only thing the engine reads and changes (SPEC §1: nothing is shared
between users). Hosts keep one `UserState` per user: the simulator in a dict, the daemon in
its store.

The engine changes the state it is handed in place and returns it, for speed; the daemon keeps
no state between transactions (a rolled-back one is loaded again from the store).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from journeyctl.engine.effects import ExitReason

_NONE: Any = MappingProxyType({})  # read-only: writing to the shared empty one fails loudly
_NO_SENDS: Any = ()


def merge_profile(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge attributes into a profile, nested objects key by key (SPEC §3: an `identify`
    event, a later profile line and the daemon's profile upsert all merge this way)."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge_profile(into[key], value)
        else:
            into[key] = value



def set_path(profile: dict[str, Any], dotted: str, value: Any) -> None:
    """Set one attribute, a dotted path (an `update` step; the daemon's profile writes apply
    the step's changes the same way), making the objects on the way."""
    parts = dotted.split(".")
    target = profile
    for part in parts[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[parts[-1]] = value

# wait: a `wait` step; until: a `wait: {until: ...}`; hold: a send held by quiet hours
WaitKind = Literal["wait", "until", "wait_for", "hold"]


@dataclass(slots=True)
class Wait:
    """What a waiting instance waits for: a timer (`key`/`token`) and maybe an event."""

    kind: WaitKind
    step: str
    due: float
    token: int
    event: str | None = None  # for wait_for


@dataclass(slots=True)
class Instance:
    """One run of a journey for a user."""

    number: int  # 1, 2, ... per user and journey
    entered_at: float
    entry: dict[str, Any]  # the properties of the event that started it
    last_event: dict[str, Any]  # the latest matched event's properties (CEL/Liquid `event`)
    version: int = 1
    converted: bool = False
    ended: ExitReason | None = None  # why it ended; None: running
    wait: Wait | None = None
    visits: dict[str, int] = field(default_factory=dict)
    loops: dict[str, int] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)  # split step -> variant
    sent: list[tuple[str, str, str, float]] = field(default_factory=list)  # step, ch, tpl, t

    @property
    def active(self) -> bool:
        return self.ended is None


@dataclass(slots=True)
class JourneyState:
    """A user's history with one journey: what entry, goals and re-entry need."""

    entered: int = 0  # instances so far (numbers them)
    last_entered_at: float | None = None
    active: Instance | None = None
    # Ended instances that a goal may still convert (pruned once their window has passed).
    recent: list[Instance] = field(default_factory=list)
    last_activity: float | None = None  # `inactive` triggers: the last qualifying event
    spell_fired: bool = False  # `inactive` triggers: this quiet spell has entered already
    timer_token: int = 0  # `inactive` triggers: the pending inactivity timer's token


@dataclass(slots=True)
class UserState:
    user_id: str
    profile: dict[str, Any] = field(default_factory=dict)
    journeys: dict[str, JourneyState] = field(default_factory=dict)
    # The three below start empty and shared (most users never need them); a user's own
    # container is made at the first write. A simulation holds 100k users: it adds up.
    # Events kept for count() (only names some expression counts, only for the longest window).
    history: dict[str, list[float]] = field(default_factory=lambda: _NONE)
    # The most recent event per name some `wait_for` looks back for: (time, properties).
    latest: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=lambda: _NONE)
    # Promotional messages sent, for caps: (time, channel, journey), oldest first.
    promotional: list[tuple[float, str, str]] = field(default_factory=lambda: _NO_SENDS)
    tokens: int = 0  # last timer token handed out
    # On the global suppression list: no promotional message, on any channel. Not part of
    # the saved state: each host sets it from its list when it loads the user (the daemon
    # from its `suppressions` table, `simulate` from `--suppressions FILE`).
    suppressed: bool = False

    def journey(self, journey_id: str) -> JourneyState:
        found = self.journeys.get(journey_id)
        if found is None:
            found = self.journeys[journey_id] = JourneyState()
        return found

    def own(self, name: str) -> Any:
        """The user's own container for `history`, `latest` or `promotional`."""
        value = getattr(self, name)
        if value is _NONE or value is _NO_SENDS:
            value = [] if name == "promotional" else {}
            setattr(self, name, value)
        return value

    def next_token(self) -> int:
        self.tokens += 1
        return self.tokens


def new_state(user_id: str, profile: dict[str, Any] | None = None) -> UserState:
    """A user's state, owning a copy of their profile (the engine updates it in place)."""
    return UserState(user_id=user_id, profile={**copy_json(profile or {}), "user_id": user_id})


def copy_json(value: Any) -> Any:
    """A copy of JSON-like data, nested objects included (cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value
