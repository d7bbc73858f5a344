"""The SQLite state store: one file, WAL, recorded migrations, a lock row, one transaction per
apply (so a killed apply leaves the previous state whole)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from journeyctl.state.base import (
    AppliedJourney,
    ApplyMeta,
    LockInfo,
    Snapshot,
    StateError,
    VersionRecord,
)
from journeyctl.state.migrations import MIGRATIONS, SCHEMA_VERSION


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class SqliteStore:
    """`create=False` opens an existing state only (read-only commands); a missing file then
    reads as an empty state for `plan`, and is an error elsewhere."""

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = str(path)
        self.db: sqlite_utils.Database | None = None
        if not path.exists() and not create:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite_utils.Database(path)
            self.db.conn.isolation_level = None  # we say BEGIN and COMMIT ourselves
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError("JC960", f"{path} is not a journeyctl state file ({exc})",
                             "point --state at the right file, or move this one away",
                             self.path) from exc

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
            if newest > SCHEMA_VERSION:
                raise StateError(
                    "JC961", f"{self.path} was written by a newer journeyctl (state schema "
                    f"{newest}, this version knows {SCHEMA_VERSION})",
                    "upgrade journeyctl; it never rewrites a newer state", self.path)
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
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

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

    def history(self, journey: str | None = None) -> list[VersionRecord]:
        if self.db is None:
            return []
        where, args = ("WHERE v.journey = ?", [journey]) if journey else ("", [])
        rows = self.db.execute(
            "SELECT v.journey, v.version, v.hash, v.action, v.applied_at, v.apply_id, "
            f"a.git_commit, a.git_author FROM journey_versions v JOIN applies a "
            f"ON a.id = v.apply_id {where} ORDER BY v.journey, v.version", args)
        return [VersionRecord(*row) for row in rows]

    def version(self, journey: str, version: int) -> AppliedJourney | None:
        if self.db is None:
            return None
        row = self.db.execute("SELECT journey, version, hash, content, status FROM "
                              "journey_versions WHERE journey = ? AND version = ?",
                              [journey, version]).fetchone()
        return AppliedJourney(row[0], row[1], row[2], json.loads(row[3]), row[4]) if row else None

    # --- the lock ------------------------------------------------------------------------------

    def lock(self, operation: str, timeout: float) -> LockInfo:
        """Take the state lock, waiting up to `timeout` seconds for another holder."""
        assert self.db is not None
        host = socket.gethostname()
        mine = LockInfo(uuid.uuid4().hex[:12], operation, f"{getpass.getuser()}@{host}",
                        os.getpid(), host, now_iso())
        deadline = time.monotonic() + timeout
        while True:
            with self.transaction():
                row = self.db.execute("SELECT lock_id, operation, who, pid, host, since "
                                      "FROM lock").fetchone()
                if row is None:
                    self.db.execute("INSERT INTO lock VALUES (1, ?, ?, ?, ?, ?, ?)",
                                    [mine.lock_id, mine.operation, mine.who, mine.pid,
                                     mine.host, mine.since])
                    return mine
            holder = LockInfo(*row)
            if holder.host == host and not _alive(holder.pid):
                raise StateError(
                    "JC963", f"the state is locked by a process that is no longer running "
                    f"({holder.operation} by {holder.who}, pid {holder.pid}, since "
                    f"{holder.since})",
                    f"if no apply is running, unlock it: journeyctl force-unlock "
                    f"{holder.lock_id}", self.path)
            if time.monotonic() >= deadline:
                raise StateError(
                    "JC962", f"the state is locked by {holder.who} (pid {holder.pid}, "
                    f"{holder.operation} since {holder.since}); waited {timeout:g}s",
                    f"wait for it to finish, raise --lock-timeout, or, if that process is gone "
                    f"for good, journeyctl force-unlock {holder.lock_id}", self.path)
            time.sleep(0.2)

    def unlock(self, lock: LockInfo) -> None:
        assert self.db is not None
        with self.transaction():
            self.db.execute("DELETE FROM lock WHERE lock_id = ?", [lock.lock_id])

    def force_unlock(self, lock_id: str) -> LockInfo:
        if self.db is None:
            raise StateError("JC969", f"there is no state at {self.path}", None, self.path)
        with self.transaction():
            row = self.db.execute("SELECT lock_id, operation, who, pid, host, since FROM lock "
                                  "WHERE lock_id = ?", [lock_id]).fetchone()
            if row is None:
                current = self.db.execute("SELECT lock_id FROM lock").fetchone()
                raise StateError("JC962", f"no lock with id {lock_id}",
                                 f"the current lock is {current[0]}" if current
                                 else "the state is not locked", self.path)
            self.db.execute("DELETE FROM lock WHERE lock_id = ?", [lock_id])
        return LockInfo(*row)

    # --- applying ------------------------------------------------------------------------------

    def apply(self, plan: Mapping[str, Any], meta: ApplyMeta) -> int:
        """Apply a plan in one transaction; returns the new serial. The plan must have been
        made against this state as it is now (same lineage and serial)."""
        assert self.db is not None
        db = self.db
        with self.transaction():
            serial = int(self._meta("serial") or 0)
            lineage = self._meta("lineage")
            expected = plan["state"]
            if expected["lineage"] and expected["lineage"] != lineage:
                raise StateError("JC965", "the plan was made for another state file",
                                 "make a new plan against this state", self.path)
            if expected["serial"] != serial:
                raise StateError(
                    "JC966", f"the plan is stale: it was made at state serial "
                    f"{expected['serial']}, the state is now at {serial}",
                    "something was applied since; run journeyctl plan again", self.path)
            project = self._meta("project")
            if project and project != plan["project"]:
                raise StateError("JC965", f"this state belongs to project '{project}', not "
                                 f"'{plan['project']}'", "use the project's own --state",
                                 self.path)
            stamp = now_iso()
            cursor = db.execute(
                "INSERT INTO applies (serial, operation, applied_at, user, git_commit, "
                "git_author, git_dirty, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [serial + 1, meta.operation, stamp, meta.user, meta.commit, meta.author,
                 int(meta.dirty), _dumps(plan["summary"])])
            apply_id = cursor.lastrowid
            for change in plan["changes"]:
                self._apply_change(change, apply_id, stamp, meta.operation)
            settings = plan.get("settings")
            if settings and settings["action"] != "no-op":
                db.execute("INSERT INTO settings_versions (version, hash, content, apply_id, "
                           "applied_at) VALUES (?, ?, ?, ?, ?)",
                           [settings["to_version"], settings["hash"],
                            _dumps(settings["content"]), apply_id, stamp])
            self._set_meta("serial", str(serial + 1))
            self._set_meta("project", plan["project"])
        return serial + 1

    def _apply_change(self, change: Mapping[str, Any], apply_id: int, stamp: str,
                      operation: str) -> None:
        assert self.db is not None
        action = change["action"]
        if action == "no-op":
            return
        content = change["content"]
        status = "deleted" if action == "delete" else content["journey"].get("status", "active")
        recorded = "rollback" if operation == "rollback" and action != "delete" else action
        self.db.execute(
            "INSERT INTO journey_versions (journey, version, hash, status, action, content, "
            "apply_id, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [change["journey"], change["to_version"], change["hash"], status, recorded,
             _dumps(content), apply_id, stamp])
        for group in change.get("inflight", []):
            target = group.get("goes_to")
            if target:  # migrate: these instances continue on the new version
                self.db.execute(
                    "UPDATE instances SET version = ?, step = ?, updated_at = ? "
                    "WHERE journey = ? AND version = ? AND step = ? AND status = 'active'",
                    [target["version"], target["step"], time.time(), change["journey"],
                     group["version"], group["step"]])

    # --- runtime (the daemon's tables; tests seed them too) ----------------------------------

    def seed_instance(self, user_id: str, journey: str, number: int, version: int, step: str,
                      status: str = "active") -> None:
        assert self.db is not None
        with self.transaction():
            self.db.execute(
                "INSERT INTO instances (user_id, journey, number, version, step, status, "
                "entered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [user_id, journey, number, version, step, status, time.time(), time.time()])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
