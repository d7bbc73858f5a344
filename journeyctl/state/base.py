"""The state store's interface and the values it deals in.

A store keeps what `apply` decided (journey versions, the project's settings, the history of
applies, a lock) and what the daemon runs on (profiles, instances, timers, the inbox of events
and the outbox of messages). SQLite implements it (`journeyctl.state.sqlite`); PostgreSQL can
implement the same Protocol for several daemons.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.hints import command


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
    user: str  # who applied (the login name)
    dirty: bool  # the project had uncommitted changes (in git) when the plan was made


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
    the state file (or plan file, or option) it is about. A file is named without line and
    column: a SQLite file has no lines to point at."""

    def __init__(self, code: str, message: str, hint: str | None = None,
                 where: str | Loc = "state") -> None:
        loc = where if isinstance(where, Loc) else Loc(where, 0, 0)
        super().__init__([diagnostic(code, message, loc, hint)])
        self.code, self.message, self.hint = code, message, hint


class LockedError(StateError):
    """The lock is held by another process (JC962, after waiting `waited` seconds) or by one
    on this machine that is gone (JC963). The hint's force-unlock command names only the lock;
    `retold` gives the same error with the command of a caller who knows the project and the
    state."""

    def __init__(self, holder: LockInfo, gone: bool, waited: float, where: str,
                 unlock: str | None = None) -> None:
        self.holder, self.gone, self.waited, self.where = holder, gone, waited, where
        unlock = unlock or command("force-unlock", holder.lock_id)
        if gone:
            super().__init__(
                "JC963", f"the state is locked by a process that is no longer running "
                f"({holder.operation} by {holder.who}, pid {holder.pid}, since {holder.since})",
                f"if no apply is running, unlock it: {unlock}", where)
        else:
            super().__init__(
                "JC962", f"the state is locked by {holder.who} (pid {holder.pid}, "
                f"{holder.operation} since {holder.since}); waited {waited:g}s",
                f"wait for it to finish, raise --lock-timeout, or, if that process is gone for "
                f"good: {unlock}", where)

    def retold(self, unlock: str) -> LockedError:
        return LockedError(self.holder, self.gone, self.waited, self.where, unlock)


class Store(Protocol):
    """What the commands use of a state store (`SqliteStore` implements it; a PostgreSQL store
    would implement the same). A store whose file does not exist yet has `exists` False and
    reads as an empty state."""

    path: str

    @property
    def exists(self) -> bool: ...

    def snapshot(self) -> Snapshot: ...

    def history(self, journey: str | None = None) -> list[VersionRecord]: ...

    def version(self, journey: str, version: int) -> AppliedJourney | None: ...

    def holder(self) -> LockInfo | None: ...

    def lock(self, operation: str, timeout: float) -> LockInfo: ...

    def unlock(self, lock: LockInfo) -> None: ...

    def locked(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]: ...

    def force_unlock(self, lock_id: str) -> LockInfo | None: ...

    def apply(self, plan: Mapping[str, Any], meta: ApplyMeta) -> int: ...

    def close(self) -> None: ...


Conflict = tuple[str, str, str]  # (code, message, hint)


def project_conflict(state_project: str | None, project: str, state: str = "the state"
                     ) -> Conflict | None:
    """A state belongs to the project that first applied to it."""
    if state_project and state_project != project:
        return ("JC965", f"{state} belongs to project '{state_project}', not '{project}'",
                "use the project's own state (check --state and `state:` in journeyctl.yaml)")
    return None


def plan_conflict(plan: Mapping[str, Any], lineage: str, serial: int,
                  project: str | None) -> Conflict | None:
    """Why `plan` cannot be applied to a state at `lineage` and `serial` that belongs to
    `project`: a plan is tied to the state, and the serial, it was made against."""
    expected = plan["state"]
    if expected["lineage"] and expected["lineage"] != lineage:
        return ("JC965", f"the plan was made for another state ({expected['path']})",
                "apply it to the state it was made for, or make a new plan against this one")
    if expected["serial"] != serial:
        return ("JC966", f"the plan is stale: it was made at state serial {expected['serial']}, "
                f"the state is now at {serial}",
                "something was applied since: make the plan again")
    return project_conflict(project, plan["project"])
