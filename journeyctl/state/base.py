"""The state store's interface and the values it deals in.

A store keeps what `apply` decided (journey versions, the project's settings, the history of
applies, a lock) and what the daemon runs on (profiles, instances, timers, the inbox of events
and the outbox of messages). SQLite implements it (`journeyctl.state.sqlite`); PostgreSQL can
implement the same Protocol for several daemons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic


@dataclass(frozen=True)
class AppliedJourney:
    """The latest version of a journey in the state (status `deleted` once removed)."""

    journey: str
    version: int
    hash: str
    content: Mapping[str, Any]  # {"journey": <journey document>, "templates": {name: doc}}
    status: str  # active | paused | deleted


@dataclass(frozen=True)
class Snapshot:
    """Everything `plan` reads from the state."""

    lineage: str  # a random id made when the state was created: plans are tied to it
    serial: int  # bumped by every apply: a saved plan is tied to it
    project: str | None
    journeys: Mapping[str, AppliedJourney]
    settings_hash: str | None
    settings_version: int
    inflight: Mapping[tuple[str, int, str], int]  # (journey, version, step) -> active instances
    settings: Mapping[str, Any] | None = None  # the applied settings, catalog and channels


@dataclass(frozen=True)
class VersionRecord:
    journey: str
    version: int
    hash: str
    action: str  # create | update | delete | rollback
    applied_at: str
    apply_id: int
    commit: str | None
    author: str | None


@dataclass(frozen=True)
class LockInfo:
    lock_id: str
    operation: str
    who: str  # user@host
    pid: int
    host: str
    since: str


@dataclass(frozen=True)
class ApplyMeta:
    """Who applied what, from where (git commit and author when the project is in git)."""

    operation: str  # apply | rollback
    user: str
    commit: str | None = None
    author: str | None = None
    dirty: bool = False


class StateError(JourneyctlError):
    """A state problem the user can act on (corrupt, newer, locked, stale plan...), located at
    the state file (or plan file) it is about."""

    def __init__(self, code: str, message: str, hint: str | None = None,
                 where: str = "state") -> None:
        super().__init__([diagnostic(code, message, Loc(where), hint)])
        self.code, self.message, self.hint = code, message, hint


class Store(Protocol):
    path: str

    def snapshot(self) -> Snapshot: ...

    def lock(self, operation: str, timeout: float) -> LockInfo: ...

    def unlock(self, lock: LockInfo) -> None: ...

    def force_unlock(self, lock_id: str) -> LockInfo: ...

    def apply(self, plan: Mapping[str, Any], meta: ApplyMeta) -> int: ...

    def history(self, journey: str | None = None) -> list[VersionRecord]: ...

    def version(self, journey: str, version: int) -> AppliedJourney | None: ...

    def close(self) -> None: ...
