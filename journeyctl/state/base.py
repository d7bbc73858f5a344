"""The state store's interface and the values it deals in.

A store keeps what `apply` decided (journey versions, the project's settings, the history of
applies, a lock) and what the daemon runs on (profiles, instances, timers, the inbox of events
and the outbox of messages). Two Protocols say what a store must do: `Store` (what the commands
use) and `Runtime` (what the daemon uses; one small Protocol per table group, from `Inbox` to
`Pruning`). SQLite implements both (`journeyctl.state.sqlite`, `journeyctl.state.sqlite_*`); a
PostgreSQL store can implement the same Protocols for several daemons.

Every method that stamps engine time takes `now` (epoch seconds) from its caller — the
daemon's one clock, or the command at the edge. (The lock's `since` and migrations record when
a person acted, on the wall clock.)
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.hints import command
from journeyctl.model import Category
from journeyctl.timefmt import rfc3339

if TYPE_CHECKING:
    from journeyctl.engine.state import UserState
    from journeyctl.state.partitions import Held
    from journeyctl.state.plan_values import Change, Plan

Clock = Callable[[], float]  # epoch seconds; the daemon owns one and passes it down


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


def iso_seconds(moment: float) -> str:
    """RFC 3339 to the second, UTC as `Z`: how a state records when things were done."""
    return rfc3339(moment, millis=False)


def now_iso() -> str:
    return iso_seconds(time.time())


def content_json(value: Any) -> str:
    """How a state stores applied content (journeys, settings, summaries): one canonical
    JSON text, the same in every store."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def new_lock(operation: str) -> LockInfo:
    """The lock this process would hold: who, where, since when (the wall clock)."""
    host = socket.gethostname()
    return LockInfo(uuid.uuid4().hex[:12], operation, f"{getpass.getuser()}@{host}",
                    os.getpid(), host, now_iso())


def recorded_version(change: Change, operation: str) -> tuple[str, str]:
    """(status, action) a store records for a journey's new version: `deleted` for a delete;
    the action `rollback` for anything a rollback brings back."""
    assert change.content is not None  # the plan's schema requires it but for a no-op
    action = change.action
    status = "deleted" if action == "delete" else change.content["journey"].get("status",
                                                                                "active")
    return status, "rollback" if operation == "rollback" and action != "delete" else action


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

    def apply(self, plan: Plan, meta: ApplyMeta, now: float) -> int: ...

    def check_writable(self, now: float) -> None:
        """Whether the state can be written now (`serve` checks before it starts): a located
        StateError if not."""
        ...

    def report_counts(self, since: float | None, until: float | None
                      ) -> list[tuple[int, str, int | float]]:
        """The live report's counts, added up over the hours that overlap [since, until)
        (counts are kept per hour): (version, path, number). Empty for a state no daemon
        counted in."""
        ...

    def close(self) -> None: ...


Conflict = tuple[str, str, str]  # (code, message, hint)


def split_count(value: int | float) -> tuple[int, float | None]:
    """A count's (count, amount) columns: an amount (a float) in `amount`, a whole number in
    `count` with no amount (NULL), so a count reads back as the type it was recorded as."""
    return (0, value) if isinstance(value, float) else (int(value), None)


def report_window(since: float | None, until: float | None, mark: str
                  ) -> tuple[str, list[float]]:
    """The WHERE clause (with `mark` placeholders) of `Store.report_counts`: the hours that
    overlap [since, until)."""
    clauses, args = [], []
    if since is not None:
        clauses.append(f"hour > {mark}")
        args.append(since - 3600)
    if until is not None:
        clauses.append(f"hour < {mark}")
        args.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def project_conflict(state_project: str | None, project: str, state: str = "the state"
                     ) -> Conflict | None:
    """A state belongs to the project that first applied to it."""
    if state_project and state_project != project:
        return ("JC965", f"{state} belongs to project '{state_project}', not '{project}'",
                "use the project's own state (check --state and `state:` in journeyctl.yaml)")
    return None


def plan_conflict(plan: Plan, lineage: str, serial: int,
                  project: str | None) -> Conflict | None:
    """Why `plan` cannot be applied to a state at `lineage` and `serial` that belongs to
    `project`: a plan is tied to the state, and the serial, it was made against."""
    expected = plan.state
    if expected.lineage and expected.lineage != lineage:
        return ("JC965", f"the plan was made for another state ({expected.path})",
                "apply it to the state it was made for, or make a new plan against this one")
    if expected.serial != serial:
        return ("JC966", f"the plan is stale: it was made at state serial {expected.serial}, "
                f"the state is now at {serial}",
                "something was applied since: make the plan again")
    return project_conflict(project, plan.project)


# --- the daemon's side: what one input, and one outbox message, look like in the store ---------


@dataclass(frozen=True)
class InboxRow:
    seq: int
    event_id: str | None
    user_id: str
    name: str
    time: float  # the event's own timestamp
    # client data, maybe personal: kept out of the row's repr, which logs show
    properties: dict[str, Any] = field(repr=False)
    received_at: float  # when it arrived: the engine processes it at this time


@dataclass(frozen=True)
class TimerRow:
    id: int
    user_id: str
    key: str
    token: int
    due: float
    set_at: float


@dataclass(frozen=True)
class PendingTick:
    """A schedule tick being delivered to every known user, a page at a time."""

    journey: str
    at: float
    after: str  # the last user id done
    set_at: float  # when it counts as set: the tick before it (see `_next` in the core)
    part: int | None = None  # the partition it is delivered to (None: every user at once)


Work = InboxRow | TimerRow | PendingTick  # one input for the engine


class CountRow(NamedTuple):
    """A number the live report adds up (`journeyctl.daemon.tally`): a recorder count at a
    path (JSON, `journeyctl.sim.counts`), for inputs of one hour and one journey version."""

    hour: int  # epoch seconds, a multiple of 3600 (the engine's time of the inputs)
    version: int
    path: str
    value: int | float


@dataclass(frozen=True)
class Delivery:
    """What became of one outbox message (see `Outbox.record_deliveries`)."""

    row_id: int
    status: str  # sent | failed | expired | pending (to retry at `retry_at`)
    attempts: int
    provider_id: str | None = None
    error: str | None = None
    follow_up: dict[str, Any] | None = None  # the fallback message to send instead
    retry_at: float | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    user_id: str
    journey: str
    step: str
    channel: str
    template: str
    category: Category
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: float


PRUNED = ("events", "messages")  # what `Pruning.prune` walks: the `retention` settings' keys


# --- the daemon's side: one Protocol per table group, and `Runtime`, all of them --------------
#
# Used from one thread at a time. A method that writes commits on its own, unless it runs
# inside `Transitions.batch` (then the batch commits it). Errors of the store itself (busy,
# disk full) are raised as the store's own exceptions: the daemon waits and tries again.


class Inbox(Protocol):
    def ingest(self, batches: list[list[dict[str, Any]]], now: float
               ) -> list[tuple[int, int] | Exception]:
        """Store validated events received at `now`, in one transaction, a known `event_id`
        ignored; per batch (accepted, duplicates), or the exception of a batch that could not
        be stored (the others are stored)."""
        ...

    def next_event(self, now: float) -> InboxRow | None:
        """The oldest unprocessed event (an unreadable one is set aside at `now`)."""
        ...


class Profiles(Protocol):
    def upsert_profiles(self, profiles: list[dict[str, Any]], now: float) -> int: ...

    def profile(self, user_id: str) -> dict[str, Any] | None: ...

    def known_users(self, after: str, limit: int, part: int | None = None) -> list[str]:
        """Users with a profile or a state, in id order, after `after` (of partition `part`
        only, when given)."""
        ...


class Timers(Protocol):
    def next_timer(self, now: float) -> TimerRow | None:
        """The earliest timer due by `now` (by due time, then when it was set)."""
        ...


class Ticks(Protocol):
    def next_tick(self, now: float) -> PendingTick | None: ...

    def last_tick(self, journey: str) -> float | None: ...

    def start_ticks(self, journey: str, now: float) -> None:
        """A schedule seen for the first time counts its ticks from `now` (none before)."""
        ...

    def schedule_tick(self, journey: str, at: float) -> bool:
        """Record, durably, that `journey`'s schedule fired at `at`; False (ignored) when it is
        no later than the last tick recorded."""
        ...

    def tick_progress(self, tick: PendingTick, last_user: str | None) -> None:
        """A page done: carry on after `last_user`, or the tick is finished (None)."""
        ...


class Outbox(Protocol):
    def due_messages(self, now: float, room: Mapping[str, int], busy: Iterable[int]
                     ) -> list[OutboxRow]:
        """Pending messages due by `now`, oldest first, up to `room[channel]` per channel,
        leaving out the ids in `busy`."""
        ...

    def record_deliveries(self, deliveries: list[Delivery], now: float) -> list[None]:
        """Delivery outcomes at `now`, in one transaction (a fallback message inserted for a
        failed one that has it)."""
        ...


class SetAside(Protocol):
    def set_aside(self, work: Work, error: str, now: float, user: str | None = None) -> None:
        """Take an input the engine fails on out of the way, keeping it for inspection; for a
        tick, `user` is the one user it failed for (the tick goes on for the others)."""
        ...


class Views(Protocol):
    """Reads for the API and /metrics (times as RFC 3339 in the user view)."""

    def user_view(self, user_id: str, messages: int = 50) -> dict[str, Any] | None: ...

    def live_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """journey -> "v<version>" -> step -> active instances."""
        ...

    def journey_counts(self, journey: str) -> dict[str, dict[str, int]]:
        """"v<version>" -> step -> active instances of one journey."""
        ...

    def pending(self, now: float) -> dict[str, int]:
        """Work waiting: events, timers, timers_due (by `now`), messages, set_aside."""
        ...


class Pruning(Protocol):
    def prune(self, kind: str, after: int, cutoff: float) -> tuple[int, int | None]:
        """Delete one window of `kind`'s (see `PRUNED`) rows finished before `cutoff`, among
        the rows after key `after`: (rows deleted, the key to go on after, None when done)."""
        ...

    def release_space(self) -> int:
        """Give free space back to the file system where the store can; what was released."""
        ...


class Merges(Protocol):
    """Identity merge (docs/daemon.md): a user's state taken out and their later events
    forwarded to the user they merged into. Writes join the transition's transaction."""

    def alias_of(self, user_id: str) -> str | None:
        """The user `user_id` was merged into, if they were."""
        ...

    def take_out(self, user_id: str, into: str, now: float) -> None:
        """Remove the user's state, profile, timers and active instances (the caller carries
        them to `into`), and record that `user_id` is `into` from now on."""
        ...

    def drop_alias(self, user_id: str) -> None:
        """`user_id` has a state of their own again (another user merged into them)."""
        ...

    def forward(self, inbox_seq: int, events: list[dict[str, Any]], now: float) -> None:
        """Mark the event `inbox_seq` done and add `events` (validated, as `Inbox.ingest`
        takes them) to the inbox instead."""
        ...


class Suppression(NamedTuple):
    user_id: str
    reason: str | None
    at: float  # when it was added


# The tables a user's deletion empties of their rows (with their aliases and inbox events:
# `Privacy.forget`). The live report's counts hold no user and stay.
FORGOTTEN = ("profiles", "user_state", "instances", "timers", "outbox", "set_aside",
             "suppressions")


class Privacy(Protocol):
    """The global suppression list (`UserState.suppressed`, set by `load_user`) and user
    deletion (docs/daemon.md)."""

    def suppress(self, users: list[str], reason: str | None, now: float) -> int:
        """Add users to the list (those already on it stay as they were); how many were new."""
        ...

    def unsuppress(self, users: list[str]) -> int:
        """Take users off the list; how many were on it."""
        ...

    def suppressions(self, after: str, limit: int) -> list[Suppression]:
        """A page of the list, in user id order, after `after`."""
        ...

    def forget(self, user_id: str, inbox_seq: int, received_at: float) -> dict[str, int]:
        """Delete everything the store holds of a user (run by the engine, in order, for the
        deletion's inbox row `inbox_seq`, which goes too): rows deleted, per table."""
        ...


class Transitions(Protocol):
    def batch(self) -> AbstractContextManager[None]:
        """One transaction around several engine transitions (their commits join it)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: what the block wrote is undone if it raises."""
        ...

    def load_user(self, user_id: str, fresh: Callable[[str, dict[str, Any] | None], UserState]
                  ) -> tuple[UserState, int | None]:
        """The user's state (`fresh(user_id, profile)` when the engine has not seen them),
        `suppressed` when the suppression list has them, and the serial of the apply it was
        last reconciled with (None when new)."""
        ...

    def instance_position(self, user_id: str, journey: str, number: int
                          ) -> tuple[int, str] | None:
        """(version, step) of an active instance as the store has it (`migrate:` moves it)."""
        ...

    def commit(self, state: UserState, effects: Iterable[Any], messages: list[dict[str, Any]],
               *, at: float, now: float, serial: int, inbox_seq: int | None = None,
               timer: TimerRow | None = None, profile_changed: bool = False) -> None:
        """One engine transition, atomically: the input done, the state, what it produced.
        `at` is the engine's time for it, `now` the clock's; `serial` the apply the state is
        reconciled with."""
        ...

    def add_counts(self, rows: list[CountRow]) -> None:
        """Add a batch's report counts to the stored ones (inside the batch: they commit or
        roll back with it)."""
        ...


class Leases(Protocol):
    """Which partitions of the users this daemon runs (see `journeyctl.state.partitions`). A
    store one daemon runs (SQLite) holds its one partition for good; a shared one (PostgreSQL)
    hands them out under leases that lapse unless renewed."""

    def heartbeat(self) -> Held:
        """Say this daemon is alive: renew what it holds, take partitions nobody holds (or
        whose holder's lease lapsed) and give back those over its share, so the daemons alive
        share them evenly. What it holds now. Called between engine batches."""
        ...

    def release(self) -> None:
        """Give back every partition and message held (a daemon stopping): others take them
        at their next heartbeat, without waiting for a lease to lapse."""
        ...


class Runtime(Inbox, Profiles, Timers, Ticks, Outbox, SetAside, Views, Pruning, Transitions,
              Leases, Merges, Privacy, Protocol):
    """Everything the daemon uses of a store, open on an applied state."""

    @property
    def store(self) -> Store:
        """The applied journeys are read through it (`journeyctl.state.applied`)."""
        ...

    def serial(self) -> int: ...

    def touch(self, now: float) -> None:
        """A small commit: whether the state can be written now (the store's error if not)."""
        ...

    def close(self) -> None: ...
