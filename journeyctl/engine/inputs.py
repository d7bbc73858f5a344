"""What the engine is fed: an event, a due timer, or a schedule tick. Times are epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    user_id: str
    name: str
    time: float  # when it happened (event time: the simulator processes events at this time)
    properties: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the engine asked for (SetTimer) has come due. `key` says what it is for."""

    user_id: str
    key: str
    token: int  # which setting of the timer this is: a re-set timer makes older ones stale


@dataclass(frozen=True, slots=True)
class Tick:
    """A `schedule` trigger's cron tick, offered to one user."""

    user_id: str
    journey: str


Input = Event | TimerFired | Tick
