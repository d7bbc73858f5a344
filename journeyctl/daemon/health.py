"""Channel health: is a provider mostly failing? And the /healthz answer built from it.

`ChannelHealth` is a small pure tracker (no clock, no I/O): the dispatcher feeds it the outcome
of every attempt, and it says when a channel changes state, for the caller to log and count.

- A channel is **degraded** when, among its last `WINDOW` attempts (and at least
  `MIN_ATTEMPTS` of them), more than half failed — the provider is out, or throttling hard.
- It is **healthy** again after `RECOVER_AFTER` attempts in a row are accepted; its history
  starts afresh then, so one late failure does not flip it back at once.

The two thresholds differ on purpose (hysteresis): a provider failing about half the time
would otherwise flip the state, and log a warning, on every other attempt.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from journeyctl.state.partitions import Held

WINDOW = 30  # the attempts a channel is judged on
MIN_ATTEMPTS = 10  # fewer say too little (three messages failing once each is no outage)
RECOVER_AFTER = 5  # accepted attempts in a row that end a degraded state


@dataclass(frozen=True)
class Change:
    """A channel's state changed: `degraded`, or `recovered`; `detail` says why."""

    channel: str
    state: Literal["degraded", "recovered"]
    detail: str


@dataclass
class _Track:
    recent: deque[str | None] = field(default_factory=lambda: deque(maxlen=WINDOW))
    degraded: str | None = None  # why, while degraded
    streak: int = 0  # accepted in a row, while degraded
    failed_while: int = 0  # failed attempts since it became degraded (those that made it too)


class ChannelHealth:
    """The recent attempts of each channel, and which channels are degraded."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}

    def observe(self, channel: str, failure: str | None) -> Change | None:
        """Record one attempt: `failure` is None when it was accepted, else a few words on it
        (`HTTP 500`). Returns the change of state it causes, if any."""
        track = self._tracks.setdefault(channel, _Track())
        track.recent.append(failure)
        if track.degraded is None:
            return self._maybe_degrade(channel, track)
        if failure is not None:
            track.streak = 0
            track.failed_while += 1
            track.degraded = _why(track.recent)
            return None
        track.streak += 1
        if track.streak < RECOVER_AFTER:
            return None
        detail = (f"{RECOVER_AFTER} attempts in a row accepted, after {track.failed_while} "
                  f"failed")
        self._tracks[channel] = _Track()
        return Change(channel, "recovered", detail)

    def _maybe_degrade(self, channel: str, track: _Track) -> Change | None:
        failed = sum(f is not None for f in track.recent)
        if len(track.recent) < MIN_ATTEMPTS or failed * 2 <= len(track.recent):
            return None
        track.degraded = _why(track.recent)
        track.streak, track.failed_while = 0, failed
        return Change(channel, "degraded", track.degraded)

    def degraded(self) -> dict[str, str]:
        """The degraded channels, each with why: `{"email": "degraded: 28 of the last 30
        attempts failed (HTTP 500)"}`."""
        return {name: f"degraded: {track.degraded}"
                for name, track in sorted(self._tracks.items()) if track.degraded is not None}


def _why(recent: deque[str | None]) -> str:
    failures = [f for f in recent if f is not None]
    common = Counter(failures).most_common(1)[0][0]
    return f"{len(failures)} of the last {len(recent)} attempts failed ({common})"


def health_answer(serial: int, problems: list[str], degraded: dict[str, str],
                  held: Held | None = None) -> tuple[dict[str, Any], int]:
    """The /healthz body and status code. A daemon whose loops keep failing is `unhealthy`
    (503: a supervisor should look at it). A degraded channel is the provider's trouble, not
    the daemon's — restarting it would not help, its messages wait and are retried — so the
    answer stays 200, with `status: degraded` and the channels named. `partitions`: the
    users' partitions this daemon runs, of how many, among how many daemons."""
    body: dict[str, Any] = {"status": "ok", "serial": serial}
    if held is not None:
        body["partitions"] = {"held": list(held.parts), "of": held.count,
                              "daemons": held.daemons}
    status = 200
    if degraded:
        body.update(status="degraded", channels=degraded)
    if problems:
        body.update(status="unhealthy", reason="; ".join(problems))
        status = 503
    return body, status
