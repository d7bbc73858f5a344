"""What the engine is fed: an event, a due timer, or a schedule tick. Times are epoch seconds.

Inputs and effects are named tuples: immutable values, and several times cheaper to create
than frozen dataclasses, which matters at a few million per simulation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from journeyctl.engine.state import UserState


class Event(NamedTuple):
    user_id: str
    name: str
    time: float  # when it happened (event time: the simulator processes events at this time)
    properties: dict[str, Any]
    event_id: str | None = None


class TimerFired(NamedTuple):
    """A timer the engine asked for (SetTimer) has come due. `key` says what it is for."""

    user_id: str
    key: str
    token: int  # which setting of the timer this is: a re-set timer makes older ones stale


class Tick(NamedTuple):
    """A `schedule` trigger's cron tick, offered to one user."""

    user_id: str
    journey: str


class Migrate(NamedTuple):
    """An apply moved an instance to a new version at a step (`migrate:`); the daemon hands the
    engine this before the user's next input."""

    user_id: str
    journey: str
    instance: int
    version: int
    step: str


class Merge(NamedTuple):
    """Another user's state, taken out of the store, joins this user's (identity merge: an
    anonymous visitor who logged in; `journeyctl.engine.merge`)."""

    user_id: str
    source: str  # the user it was taken from
    taken: UserState  # their state, with their profile


Input = Event | TimerFired | Tick | Migrate | Merge
