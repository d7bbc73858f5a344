"""The SQLite state store: one file, WAL, recorded migrations, a lock row, one transaction per
apply (so a killed apply leaves the previous state whole)."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils

from journeyctl.state.base import (
    AppliedJourney,
    ApplyMeta,
    LockedError,
    LockInfo,
    Snapshot,
    StateError,
    VersionRecord,
    content_json,
    iso_seconds,
    new_lock,
    now_iso,
    plan_conflict,
    recorded_version,
    report_window,
)
from journeyctl.state.migrations import MIGRATIONS, SCHEMA_VERSION
from journeyctl.timefmt import rfc3339

if TYPE_CHECKING:
    from journeyctl.state.plan_values import Change, Plan

_LOCK_COLUMNS = "lock_id, operation, who, pid, host, since"


T = TypeVar("T")


def _explained(method: Callable[..., T]) -> Callable[..., T]:
    """For the commands' methods: an SQLite failure (a read-only file, a full disk, a busy
    database) becomes a located JC960, not a crash. The daemon's reads and writes keep
    sqlite3's errors: it waits and tries again on them."""

    @functools.wraps(method)
    def explained(self: SqliteStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._sqlite_error(exc) from exc

    return explained





class SqliteStore:
    """A state file. `create=True` (apply) makes it when it is missing. Otherwise a missing
    file reads as an empty state (`exists` is False) for `plan`, and is an error elsewhere.

    `readonly=True` (plan, status, history) never writes: no new file, no migration (a state
    of an older schema is read as it is), and a connection that refuses writes. A file that is
    not a journeyctl state (another program's SQLite database) is refused and left as it is;
    so is a state written by a newer journeyctl. `shown` is how messages name the file."""

    def __init__(self, path: Path, create: bool = False, readonly: bool = False,
                 shown: str | None = None) -> None:
        self.path = str(path)
        self.shown = shown or self.path
        self.readonly = readonly
        self.db: sqlite_utils.Database | None = None
        try:
            if path.is_dir():
                raise self._error("JC960", f"{self.shown} is a folder, not a state file",
                                  "point --state (or `state:` in journeyctl.yaml) at a file")
            if not path.exists():
                if not create:
                    return
                path.parent.mkdir(parents=True, exist_ok=True)
            conn, newest = self._connect(path, create and not readonly)
            if newest is None and (readonly or not create):  # an empty file: no state yet
                conn.close()
                return
            self.db = sqlite_utils.Database(conn)
            if not readonly:
                if newest is None:  # possible only before the first table (see state/prune)
                    self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                if newest is None or newest < SCHEMA_VERSION:
                    self._migrate()
        except sqlite3.Error as exc:
            self.close()
            raise self._sqlite_error(exc) from exc
        except OSError as exc:
            self.close()
            blocking = _file_in_the_way(path)
            reason = f"{blocking} is a file, not a folder" if blocking else \
                f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
            raise self._error(
                "JC960", f"cannot {'create' if create else 'open'} the state at {self.shown}: "
                f"{reason}", "point --state (or `state:` in journeyctl.yaml) at a path whose "
                "folder exists (or can be created) and can be written") from exc
        except BaseException:
            self.close()
            raise

    def _connect(self, path: Path, create: bool) -> tuple[sqlite3.Connection, int | None]:
        """A connection, and the newest recorded migration (None for an empty file). A file
        that is not ours, or is newer than this code, is refused before anything is written."""
        uri = path.absolute().as_uri()
        modes = ["rwc" if create else "rw"]
        if self.readonly:  # a read-only file or mount: ro, then (read-only mount) immutable
            modes += ["ro"] + (["ro&immutable=1"] if _read_only_mount(path) else [])
        for number, mode in enumerate(modes, start=1):
            conn: sqlite3.Connection | None = None
            try:
                conn = sqlite3.connect(f"{uri}?mode={mode}", uri=True, isolation_level=None)
                conn.execute("PRAGMA busy_timeout = 10000")
                if self.readonly:
                    conn.execute("PRAGMA query_only = ON")
                conn.execute("PRAGMA foreign_keys = ON")
                return conn, self._inspect(conn)
            except BaseException as exc:
                if conn is not None:
                    conn.close()
                if number == len(modes) or not _cannot_open(exc):
                    raise
        raise AssertionError("unreachable")

    def _inspect(self, conn: sqlite3.Connection) -> int | None:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            return None
        if "migrations" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise self._error(
                "JC960", f"{self.shown} is not a journeyctl state file: it is an SQLite "
                f"database with other tables ({shown})",
                "point --state (or `state:` in journeyctl.yaml) at the journeyctl state; this "
                "file was left as it is")
        # A damaged page is found here, not by whichever read first lands on it. Reading
        # every page costs about 0.2 s per 100 MB.
        found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":
            raise self._damaged(found)
        newest = conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0
        if newest > SCHEMA_VERSION:
            raise self._error(
                "JC961", f"{self.shown} was written by a newer journeyctl (state schema "
                f"{newest}, this version knows {SCHEMA_VERSION})",
                "upgrade journeyctl; it never rewrites a newer state")
        return int(newest)

    def _error(self, code: str, message: str, hint: str | None = None) -> StateError:
        return StateError(code, message, hint, self.shown)

    def _sqlite_error(self, exc: sqlite3.Error) -> StateError:
        """What went wrong opening the file, told apart: not a database, damaged, read-only,
        cannot be opened."""
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_NOTADB":
            return self._error("JC960", f"{self.shown} is not a journeyctl state file (it is "
                               "not an SQLite database)",
                               "point --state (or `state:` in journeyctl.yaml) at the journeyctl "
                               "state; this file was left as it is")
        if name.startswith("SQLITE_CORRUPT"):
            return self._damaged(str(exc))
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) and not self.readonly \
                and _read_only_mount(Path(self.path)):
            return self._error("JC960", f"cannot write to the state {self.shown}: it is on a "
                               "read-only file system",
                               "apply, rollback, force-unlock and serve need to write the state; "
                               "plan, status and history only read it")
        if name.startswith("SQLITE_READONLY"):
            return self._error("JC960", f"cannot write to the state {self.shown}: it is "
                               f"read-only ({exc})",
                               "apply, rollback, force-unlock and serve need write access to the "
                               "file and its folder; plan, status and history only read it")
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_IOERR")):
            return self._error("JC960", f"cannot open the state {self.shown} ({exc})",
                               "check that the file and its folder can be read (and, to apply or "
                               "serve, written) by this user")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return self._error("JC960", f"the state {self.shown} is busy ({exc})",
                               "another process holds it: try again")
        return self._error("JC960", f"cannot use the state {self.shown} ({exc})")

    def _damaged(self, detail: str) -> StateError:
        # quick_check's report starts with a line naming the schema ("*** in database main ***")
        detail = "; ".join(line for line in detail.splitlines() if not line.startswith("***"))
        return self._error("JC960", f"the state file {self.shown} is damaged ({detail})",
                           "restore it from a backup; the sqlite3 shell's .recover command "
                           "(where the shell is built with it) can save what is still "
                           "readable into a new file")

    @property
    def exists(self) -> bool:
        return self.db is not None

    def close(self) -> None:
        if self.db is not None:
            self.db.conn.close()
            self.db = None

    # --- schema ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        assert self.db is not None
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY,"
                            " name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {row[0] for row in self.db.execute("SELECT version FROM migrations")}
            newest = max(done, default=0)
            if newest > SCHEMA_VERSION:  # another journeyctl got here first
                raise self._error(
                    "JC961", f"{self.shown} was written by a newer journeyctl (state schema "
                    f"{newest}, this version knows {SCHEMA_VERSION})",
                    "upgrade journeyctl; it never rewrites a newer state")
            for number, name, statements in MIGRATIONS:
                if number not in done:
                    for statement in statements:
                        self.db.execute(statement)
                    self.db.execute("INSERT INTO migrations VALUES (?, ?, ?)",
                                    [number, name, now_iso()])
            if not self._meta("lineage"):
                self._set_meta("lineage", str(uuid.uuid4()))
                self._set_meta("serial", "0")
                self._set_meta("created_at", now_iso())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        assert self.db is not None
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite may have ended it already (an I/O error, a full disk): keep that error
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def touch(self, now: float) -> None:
        """A small commit (`now`, as meta `written_at`): whether the state can be written
        now. sqlite3's errors as they are (see `check_writable`)."""
        with self.transaction():  # to the microsecond: each probe changes the row
            self._set_meta("written_at", rfc3339(now))

    @_explained
    def check_writable(self, now: float) -> None:
        """`touch`, its failure a located JC960: `serve` refuses to start on a state it cannot
        write (a read-only file or folder, a full disk)."""
        self.touch(now)

    def _meta(self, key: str) -> str | None:
        assert self.db is not None
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        assert self.db is not None
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])

    # --- reading -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self.db is None:
            return Snapshot("", 0, None, {}, None, 0, {})
        db = self.db
        journeys = {}
        for row in db.execute(
                "SELECT journey, version, hash, content, status FROM journey_versions v "
                "WHERE version = (SELECT MAX(version) FROM journey_versions w "
                "WHERE w.journey = v.journey) ORDER BY journey"):
            journeys[row[0]] = AppliedJourney(row[0], row[1], row[2], json.loads(row[3]), row[4])
        settings = db.execute("SELECT hash, version, content FROM settings_versions "
                              "ORDER BY version DESC LIMIT 1").fetchone()
        inflight = {(r[0], r[1], r[2]): r[3] for r in db.execute(
            "SELECT journey, version, step, COUNT(*) FROM instances WHERE status = 'active' "
            "GROUP BY journey, version, step")}
        return Snapshot(self._meta("lineage") or "", int(self._meta("serial") or 0),
                        self._meta("project"), journeys, settings[0] if settings else None,
                        settings[1] if settings else 0, inflight,
                        json.loads(settings[2]) if settings else None)

    def report_counts(self, since: float | None, until: float | None
                      ) -> list[tuple[int, str, int | float]]:
        if self.db is None or not self.db["report_counts"].exists():  # (an older state)
            return []
        where, args = report_window(since, until, "?")
        return [(version, path, count if amount is None else amount)
                for version, path, count, amount in
                self.db.execute("SELECT version, path, SUM(count), SUM(amount) FROM "
                                f"report_counts {where} GROUP BY version, path", args)]

    @_explained
    def history(self, journey: str | None = None) -> list[VersionRecord]:
        if self.db is None:
            return []
        where, args = ("WHERE v.journey = ?", [journey]) if journey else ("", [])
        rows = self.db.execute(
            "SELECT v.journey, v.version, v.hash, v.action, v.applied_at, v.apply_id, "
            "a.git_commit, a.git_author, a.user, a.git_dirty FROM journey_versions v "
            f"JOIN applies a ON a.id = v.apply_id {where} ORDER BY v.journey, v.version", args)
        return [VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]))
                for r in rows]

    def version(self, journey: str, version: int) -> AppliedJourney | None:
        if self.db is None:
            return None
        row = self.db.execute("SELECT journey, version, hash, content, status FROM "
                              "journey_versions WHERE journey = ? AND version = ?",
                              [journey, version]).fetchone()
        return AppliedJourney(row[0], row[1], row[2], json.loads(row[3]), row[4]) if row else None

    # --- the lock ------------------------------------------------------------------------------

    @_explained
    def holder(self) -> LockInfo | None:
        """Who holds the lock now, if anyone."""
        if self.db is None:
            return None
        row = self.db.execute(f"SELECT {_LOCK_COLUMNS} FROM lock").fetchone()
        return LockInfo(*row) if row else None

    @_explained
    def lock(self, operation: str, timeout: float) -> LockInfo:
        """Take the state lock, waiting up to `timeout` seconds for another holder."""
        assert self.db is not None
        mine = new_lock(operation)
        deadline = time.monotonic() + timeout
        while True:
            with self.transaction():
                holder = self.holder()
                if holder is None:
                    self.db.execute(f"INSERT INTO lock (id, {_LOCK_COLUMNS}) "
                                    "VALUES (1, ?, ?, ?, ?, ?, ?)",
                                    [mine.lock_id, mine.operation, mine.who, mine.pid,
                                     mine.host, mine.since])
                    return mine
            gone = holder.host == mine.host and not _alive(holder.pid)
            if gone or time.monotonic() >= deadline:
                raise LockedError(holder, gone, timeout, self.shown)
            time.sleep(0.2)

    @_explained
    def unlock(self, lock: LockInfo) -> None:
        assert self.db is not None
        with self.transaction():
            self.db.execute("DELETE FROM lock WHERE lock_id = ?", [lock.lock_id])

    @contextmanager
    def locked(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        """The lock held for the `with` block, released however the block ends."""
        lock = self.lock(operation, timeout)
        try:
            yield lock
        finally:
            self.unlock(lock)

    @_explained
    def force_unlock(self, lock_id: str) -> LockInfo | None:
        """The lock removed; None (nothing removed) when the lock is not `lock_id`."""
        if self.db is None:
            raise self._error("JC969", f"there is no state at {self.shown}")
        with self.transaction():
            holder = self.holder()
            if holder is None or holder.lock_id != lock_id:
                return None
            self.db.execute("DELETE FROM lock WHERE lock_id = ?", [lock_id])
        return holder

    # --- applying ------------------------------------------------------------------------------

    @_explained
    def apply(self, plan: Plan, meta: ApplyMeta, now: float) -> int:
        """Apply a plan in one transaction at `now`; returns the new serial. The plan must
        have been made against this state as it is now (same lineage and serial)."""
        assert self.db is not None
        db = self.db
        with self.transaction():
            serial = int(self._meta("serial") or 0)
            conflict = plan_conflict(plan, self._meta("lineage") or "", serial,
                                     self._meta("project"))
            if conflict:
                raise self._error(*conflict)
            stamp = iso_seconds(now)
            cursor = db.execute(
                "INSERT INTO applies (serial, operation, applied_at, user, git_commit, "
                "git_author, git_dirty, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [serial + 1, meta.operation, stamp, meta.user, meta.commit, meta.author,
                 int(meta.dirty), content_json(plan.summary)])
            apply_id = cursor.lastrowid
            assert apply_id is not None  # an INSERT sets it
            for change in plan.changes:
                self._apply_change(change, apply_id, stamp, meta.operation, now)
            settings = plan.settings
            if settings.action != "no-op":
                db.execute("INSERT INTO settings_versions (version, hash, content, apply_id, "
                           "applied_at) VALUES (?, ?, ?, ?, ?)",
                           [settings.to_version, settings.hash,
                            content_json(settings.content), apply_id, stamp])
            self._set_meta("serial", str(serial + 1))
            self._set_meta("project", plan.project)
        return serial + 1

    def _apply_change(self, change: Change, apply_id: int, stamp: str, operation: str,
                      now: float) -> None:
        assert self.db is not None
        action = change.action
        if action == "no-op":
            return
        content = change.content
        assert content is not None  # the plan's schema requires it but for a no-op
        status, recorded = recorded_version(change, operation)
        self.db.execute(
            "INSERT INTO journey_versions (journey, version, hash, status, action, content, "
            "apply_id, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [change.journey, change.to_version, change.hash, status, recorded,
             content_json(content), apply_id, stamp])
        for group in change.inflight:
            target = group.goes_to
            if target:  # migrate: these instances continue on the new version
                self.db.execute(
                    "UPDATE instances SET version = ?, step = ?, updated_at = ? "
                    "WHERE journey = ? AND version = ? AND step = ? AND status = 'active'",
                    [target.version, target.step, now, change.journey,
                     group.version, group.step])

    # --- runtime (the daemon's tables; tests seed them too) ----------------------------------

    def seed_instance(self, user_id: str, journey: str, number: int, version: int, step: str,
                      now: float, status: str = "active") -> None:
        assert self.db is not None
        with self.transaction():
            self.db.execute(
                "INSERT INTO instances (user_id, journey, number, version, step, status, "
                "entered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [user_id, journey, number, version, step, status, now, now])


def _cannot_open(exc: BaseException) -> bool:
    """The file cannot be opened in this mode (a read-only file or mount): try the next."""
    return isinstance(exc, sqlite3.OperationalError) and getattr(
        exc, "sqlite_errorname", "").startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY"))


def _file_in_the_way(path: Path) -> Path | None:
    """The file that stands where a folder of `path` should be, if any."""
    for parent in reversed(path.parents):
        try:
            if parent.exists() and not parent.is_dir():
                return parent
        except OSError:
            return None
    return None


def _read_only_mount(path: Path) -> bool:
    """Only there may a WAL state be read as immutable: nothing can change it meanwhile."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
