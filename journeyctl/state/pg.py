"""The PostgreSQL state store (psycopg 3): one schema of a database per project (`?schema=`),
recorded migrations, one transaction per apply, and the apply lock as a session advisory lock —
a holder that dies loses its lock with its session, so a crashed CI runner never leaves the
state locked (the `lock` row only says who holds it).

The daemons' side, with partitions and leases, is `journeyctl.state.pg_runtime`."""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import sql

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
from journeyctl.state.pg_migrations import PARTITIONS, PG_MIGRATIONS, PG_SCHEMA_VERSION
from journeyctl.state.urls import PostgresUrl
from journeyctl.timefmt import rfc3339

if TYPE_CHECKING:
    from journeyctl.state.plan_values import Change, Plan

_LOCK_COLUMNS = "lock_id, operation, who, pid, host, since"
_JOURNEYCTL = 0x4A43  # the advisory locks' first key: "JC"
CONNECT_TIMEOUT = 10  # seconds

T = TypeVar("T")


def _explained(method: Callable[..., T]) -> Callable[..., T]:
    """For the commands' methods: a PostgreSQL failure (the server down, a permission, a
    timeout) becomes a located JC960, not a crash. The daemon's calls keep psycopg's errors:
    it waits and tries again on them."""

    @functools.wraps(method)
    def explained(self: PgStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise self._pg_error(exc) from exc

    return explained


_CONNECT_HINT = ("check that the server is up and reachable, the user and database exist, and "
                 "the password is set (PGPASSWORD, or user:env:NAME@ in the URL)")
_CONNECT_HINTS = {
    "refused": "is the server running, and listening on that host and port? Check the URL",
    "password": "set the password in the environment: PGPASSWORD, or user:env:NAME@ in the "
                "URL to read it from the variable NAME",
    "database": "create the database (createdb NAME), or correct its name in the URL",
    "role": "create the user on the server, or correct the user in the URL",
    "timeout": "the server did not answer: check the host, the port and the firewall",
}


def _connect_reason(message: str) -> str:
    """libpq's reason a connection failed, without its preamble ("connection failed:
    connection to server at ..., port ... failed:") and its advice lines."""
    first = message.strip().splitlines()[0] if message.strip() else "connection failed"
    reason = first.rsplit(" failed: ", 1)[-1].strip().removeprefix("FATAL:").strip()
    return reason[:1].lower() + reason[1:]


def _connect_kind(reason: str) -> str:
    for kind, words in (("refused", "connection refused"), ("password", "password"),
                        ("database", "database"), ("role", "role"),
                        ("timeout", "timeout expired")):
        if words in reason:
            return kind
    return ""




def lock_key(schema: str, purpose: str) -> tuple[int, int]:
    """The two keys of an advisory lock for `purpose` in `schema` (advisory locks are per
    database: projects sharing a database lock apart)."""
    digest = hashlib.blake2b(f"{schema}:{purpose}".encode(), digest_size=4).digest()
    return _JOURNEYCTL, int.from_bytes(digest, "big") & 0x7FFFFFFF


class PgStore:
    """A state in a PostgreSQL schema. `create=True` (apply) makes the schema and tables when
    missing; otherwise a missing state reads as empty (`exists` False) for `plan` and is an
    error elsewhere. `readonly=True` (plan, status, history) never writes: no schema made, no
    migration, and a read-only session."""

    def __init__(self, url: PostgresUrl, create: bool = False, readonly: bool = False) -> None:
        self.url = url
        self.path = url.shown
        self.shown = url.shown
        self.schema = url.schema
        self.readonly = readonly
        self.conn: psycopg.Connection[Any] | None = None
        self.partitions = PARTITIONS
        self._holding = False  # this session holds the apply lock
        try:
            self.conn = self._connect()
            newest = self._inspect()
            if newest is None and not (create and not readonly):
                self.close()
                return
            if not readonly and (newest is None or newest < PG_SCHEMA_VERSION):
                self._migrate()
            self.partitions = int(self._meta("partitions") or PARTITIONS)
        except psycopg.Error as exc:
            self.close()
            raise self._pg_error(exc) from exc
        except BaseException:
            self.close()
            raise

    # --- connecting ----------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        # A server that vanishes without closing the connection (a network cut, a host gone)
        # is noticed within seconds, not after the kernel's retransmissions (many minutes):
        # keepalive probes, and a limit on how long sent data may stay unacknowledged.
        conn = psycopg.connect(self.url.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               application_name="journeyctl", keepalives=1, keepalives_idle=5,
                               keepalives_interval=2, keepalives_count=3,
                               tcp_user_timeout=CONNECT_TIMEOUT * 1000, **self.url.connect_args())
        try:
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        except BaseException:
            conn.close()
            raise
        return conn

    def connection(self) -> psycopg.Connection[Any]:
        """The open connection; a new one when the last one broke (the server restarted): the
        daemon's next call after an outage reconnects by itself."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self._holding:  # the lock went with the session: never go on without it
                raise self._lock_lost()
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.conn = self._connect()
        return self.conn

    def _lock_lost(self) -> StateError:
        return self._error(
            "JC960", f"the connection to the state {self.shown} broke while this command held "
            "the state's lock (the server restarted, or force-unlock ended the session); "
            "nothing more was written",
            "run the command again: a plan made before is checked against the state as it is "
            "now")

    def _inspect(self) -> int | None:
        """The newest recorded migration; None when the schema holds no state yet. A schema
        holding other tables, or a newer state, is refused before anything is written."""
        conn = self.connection()
        # pg_class, not information_schema: that lists only the tables this user may use,
        # and a state the user may not read must be refused, not read as empty
        tables = {row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", [self.schema])}
        if not tables:
            return None
        usable = conn.execute("SELECT has_schema_privilege(%s, 'USAGE')", [self.schema]
                              ).fetchone()
        if not (usable and usable[0]):
            raise self._refused(f"permission denied for schema {self.schema}")
        if "migrations" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise self._error(
                "JC960", f"schema {self.schema} of {self.shown} is not a journeyctl state: it "
                f"has other tables ({shown})",
                "give the project a schema of its own (?schema=NAME in the state URL); "
                "nothing was changed")
        self._refuse_newer()
        row = conn.execute("SELECT MAX(version) FROM migrations").fetchone()
        return int(row[0] or 0) if row else 0

    def _refuse_newer(self) -> None:
        row = self.connection().execute(
            "SELECT version, name FROM migrations ORDER BY version DESC LIMIT 1").fetchone()
        if row and row[0] > PG_SCHEMA_VERSION:
            raise self._error(
                "JC961", f"{self.shown} was written by a newer journeyctl (state schema "
                f"{row[0]}, \"{row[1]}\"; this version knows {PG_SCHEMA_VERSION})",
                "upgrade journeyctl; it never rewrites a newer state")

    def _error(self, code: str, message: str, hint: str | None = None) -> StateError:
        return StateError(code, message, hint, self.shown)

    def _pg_error(self, exc: psycopg.Error) -> StateError:
        """What went wrong, in the user's terms: cannot connect, not allowed, read-only."""
        if self._holding and isinstance(exc, psycopg.OperationalError):
            return self._lock_lost()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.OperationalError) and self.conn is None:
            reason = _connect_reason(str(exc))
            return self._error("JC960", f"cannot connect to the state {self.shown}: {reason}",
                               _CONNECT_HINTS.get(_connect_kind(reason), _CONNECT_HINT))
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return self._refused(detail)
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return self._error("JC960", f"cannot write to the state {self.shown}: {detail}",
                               "apply, rollback, force-unlock and serve need a server that "
                               "accepts writes (not a read replica)")
        return self._error("JC960", f"cannot use the state {self.shown} ({detail})")

    def _refused(self, detail: str) -> StateError:
        schema = self.schema
        return self._error("JC960", f"the state {self.shown} refused it: {detail}",
                           f"the first apply creates schema {schema} (the user needs CREATE "
                           "on the database, or a schema made for it); then every command "
                           f"needs USAGE on schema {schema} and its tables: GRANT USAGE ON "
                           f"SCHEMA {schema} TO the user, and GRANT SELECT, INSERT, UPDATE, "
                           f"DELETE ON ALL TABLES IN SCHEMA {schema}")

    @property
    def exists(self) -> bool:
        return self.conn is not None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # --- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self.connection()
        schema = sql.Identifier(self.schema)
        with conn.transaction():
            # two processes creating one state (daemons started together): one at a time
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", lock_key(self.schema, "migrate"))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            self._refuse_newer()
            done = {row[0] for row in conn.execute("SELECT version FROM migrations")}
            for number, name, statements in PG_MIGRATIONS:
                if number not in done:
                    for statement in statements:
                        conn.execute(statement)  # type: ignore[arg-type]  # our own SQL
                    conn.execute("INSERT INTO migrations VALUES (%s, %s, %s)",
                                 [number, name, now_iso()])
            if not self._meta("lineage"):
                for key, value in (("lineage", str(uuid.uuid4())), ("serial", "0"),
                                   ("created_at", now_iso()), ("partitions", str(PARTITIONS))):
                    self._set_meta(key, value)
                conn.execute("INSERT INTO partitions (part) SELECT generate_series(0, %s - 1)",
                             [PARTITIONS])
                conn.execute("INSERT INTO leases (part) SELECT generate_series(0, %s - 1)",
                             [PARTITIONS])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.connection().transaction():
            yield

    def touch(self, now: float) -> None:
        """A small commit (`now`, as meta `written_at`): whether the state can be written
        now. psycopg's errors as they are (see `check_writable`)."""
        with self.transaction():
            self._set_meta("written_at", rfc3339(now))

    @_explained
    def check_writable(self, now: float) -> None:
        self.touch(now)

    def _meta(self, key: str) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = %s",
                                        [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.connection().execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])

    # --- reading -------------------------------------------------------------------------------

    @_explained
    def snapshot(self) -> Snapshot:
        if self.conn is None:
            return Snapshot("", 0, None, {}, None, 0, {})
        conn = self.connection()
        fresh = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with conn.transaction():
            if fresh:  # one consistent view: an apply committing meanwhile is not half seen
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            journeys = {}
            for row in conn.execute(
                    "SELECT DISTINCT ON (journey) journey, version, hash, content, status "
                    "FROM journey_versions ORDER BY journey, version DESC"):
                journeys[row[0]] = AppliedJourney(row[0], row[1], row[2], json.loads(row[3]),
                                                  row[4])
            settings = conn.execute("SELECT hash, version, content FROM settings_versions "
                                    "ORDER BY version DESC LIMIT 1").fetchone()
            inflight = {(r[0], r[1], r[2]): r[3] for r in conn.execute(
                "SELECT journey, version, step, COUNT(*) FROM instances WHERE status = "
                "'active' GROUP BY journey, version, step")}
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        return Snapshot(meta.get("lineage") or "", int(meta.get("serial") or 0),
                        meta.get("project"), journeys, settings[0] if settings else None,
                        settings[1] if settings else 0, inflight,
                        json.loads(settings[2]) if settings else None)

    def report_counts(self, since: float | None, until: float | None
                      ) -> list[tuple[int, str, int | float]]:
        if self.conn is None:
            return []
        conn = self.connection()
        with conn.transaction():
            found = conn.execute("SELECT to_regclass('report_counts')").fetchone()
            if found is None or found[0] is None:
                return []  # an older state, opened read-only
            where, args = report_window(since, until, "%s")
            rows = conn.execute("SELECT version, path, SUM(count), SUM(amount) FROM "
                                f"report_counts {where} GROUP BY version, path", args).fetchall()
        return [(version, path, int(count) if amount is None else amount)
                for version, path, count, amount in rows]

    @_explained
    def history(self, journey: str | None = None) -> list[VersionRecord]:
        if self.conn is None:
            return []
        where, args = ("WHERE v.journey = %s", [journey]) if journey else ("", [])
        rows = self.connection().execute(
            "SELECT v.journey, v.version, v.hash, v.action, v.applied_at, v.apply_id, "
            'a.git_commit, a.git_author, a."user", a.git_dirty FROM journey_versions v '
            f"JOIN applies a ON a.id = v.apply_id {where} ORDER BY v.journey, v.version",
            args)  # type: ignore[arg-type]  # `where` is one of two fixed strings
        return [VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]))
                for r in rows]

    @_explained
    def version(self, journey: str, version: int) -> AppliedJourney | None:
        if self.conn is None:
            return None
        row = self.connection().execute(
            "SELECT journey, version, hash, content, status FROM journey_versions "
            "WHERE journey = %s AND version = %s", [journey, version]).fetchone()
        return AppliedJourney(row[0], row[1], row[2], json.loads(row[3]), row[4]) if row else None

    # --- the lock ------------------------------------------------------------------------------

    def _held_by(self) -> int | None:
        """The server process (backend pid) holding the apply lock's advisory lock, if any."""
        classid, objid = lock_key(self.schema, "apply")
        row = self.connection().execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
            "database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
            "classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 2",
            [classid, objid]).fetchone()
        return int(row[0]) if row else None

    @_explained
    def holder(self) -> LockInfo | None:
        """Who holds the lock now: the `lock` row, while its session holds the advisory lock
        (a row left by a session that died is no lock)."""
        if self.conn is None:
            return None
        row = self.connection().execute(f"SELECT {_LOCK_COLUMNS}, backend FROM lock").fetchone()
        if row is None or self._held_by() != row[6]:
            return None
        return LockInfo(*row[:6])

    @_explained
    def lock(self, operation: str, timeout: float) -> LockInfo:
        """Take the state lock, waiting up to `timeout` seconds for another holder."""
        conn = self.connection()
        mine = new_lock(operation)
        deadline = time.monotonic() + timeout
        while True:
            taken = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                 lock_key(self.schema, "apply")).fetchone()
            if taken and taken[0]:
                conn.execute(f"INSERT INTO lock (id, {_LOCK_COLUMNS}, backend) VALUES "
                             "(1, %s, %s, %s, %s, %s, %s, pg_backend_pid()) ON CONFLICT (id) DO "
                             "UPDATE SET lock_id = excluded.lock_id, operation = "
                             "excluded.operation, who = excluded.who, pid = excluded.pid, "
                             "host = excluded.host, since = excluded.since, "
                             "backend = excluded.backend",
                             [mine.lock_id, mine.operation, mine.who, mine.pid, mine.host,
                              mine.since])
                self._holding = True
                return mine
            holder = self.holder()
            late = time.monotonic() - deadline
            # (a holder between its lock and its row is there a moment later: wait a second
            # for it; a session that holds the lock without a row is named as such)
            if late >= 0 and (holder is not None or late >= 1.0):
                raise LockedError(holder or LockInfo("?", "apply", "a session without a lock "
                                                     "row", 0, "?", "?"),
                                  False, timeout, self.shown)
            time.sleep(0.2)

    @_explained
    def unlock(self, lock: LockInfo) -> None:
        if self._holding and (self.conn is None or self.conn.broken or self.conn.closed):
            self._holding = False  # the session is gone, and the advisory lock with it
            return
        self._holding = False
        conn = self.connection()
        conn.execute("DELETE FROM lock WHERE lock_id = %s", [lock.lock_id])
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", lock_key(self.schema, "apply"))

    @contextmanager
    def locked(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        lock = self.lock(operation, timeout)
        try:
            yield lock
        finally:
            self.unlock(lock)

    @_explained
    def force_unlock(self, lock_id: str) -> LockInfo | None:
        """The lock removed; None (nothing removed) when the lock is not `lock_id`. A holder's
        session still open (a hung apply) is ended, which releases its advisory lock."""
        if self.conn is None:
            raise self._error("JC969", f"there is no state at {self.shown}")
        holder = self.holder()
        if holder is None or holder.lock_id != lock_id:
            return None
        backend = self._held_by()
        conn = self.connection()
        if backend is not None:
            conn.execute("SELECT pg_terminate_backend(%s)", [backend])
        conn.execute("DELETE FROM lock WHERE lock_id = %s", [lock_id])
        return holder

    # --- applying ------------------------------------------------------------------------------

    @_explained
    def apply(self, plan: Plan, meta: ApplyMeta, now: float) -> int:
        """Apply a plan in one transaction at `now`; returns the new serial. The plan must
        have been made against this state as it is now (same lineage and serial)."""
        conn = self.connection()
        with conn.transaction():
            row = conn.execute("SELECT value FROM meta WHERE key = 'serial' FOR UPDATE"
                               ).fetchone()
            serial = int(row[0]) if row else 0
            conflict = plan_conflict(plan, self._meta("lineage") or "", serial,
                                     self._meta("project"))
            if conflict:
                raise self._error(*conflict)
            stamp = iso_seconds(now)
            inserted = conn.execute(
                'INSERT INTO applies (serial, operation, applied_at, "user", git_commit, '
                "git_author, git_dirty, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                [serial + 1, meta.operation, stamp, meta.user, meta.commit, meta.author,
                 int(meta.dirty), content_json(plan.summary)]).fetchone()
            assert inserted is not None
            apply_id = int(inserted[0])
            for change in plan.changes:
                self._apply_change(change, apply_id, stamp, meta.operation, now)
            settings = plan.settings
            if settings.action != "no-op":
                conn.execute("INSERT INTO settings_versions (version, hash, content, apply_id, "
                             "applied_at) VALUES (%s, %s, %s, %s, %s)",
                             [settings.to_version, settings.hash, content_json(settings.content),
                              apply_id, stamp])
            self._set_meta("serial", str(serial + 1))
            self._set_meta("project", plan.project)
        return serial + 1

    def _apply_change(self, change: Change, apply_id: int, stamp: str, operation: str,
                      now: float) -> None:
        action = change.action
        if action == "no-op":
            return
        content = change.content
        assert content is not None  # the plan's schema requires it but for a no-op
        status, recorded = recorded_version(change, operation)
        conn = self.connection()
        conn.execute(
            "INSERT INTO journey_versions (journey, version, hash, status, action, content, "
            "apply_id, applied_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [change.journey, change.to_version, change.hash, status, recorded,
             content_json(content), apply_id, stamp])
        for group in change.inflight:
            target = group.goes_to
            if target:  # migrate: these instances continue on the new version
                conn.execute(
                    "UPDATE instances SET version = %s, step = %s, updated_at = %s "
                    "WHERE journey = %s AND version = %s AND step = %s AND status = 'active'",
                    [target.version, target.step, now, change.journey,
                     group.version, group.step])

    # --- runtime (tests seed it too) -----------------------------------------------------------

    def seed_instance(self, user_id: str, journey: str, number: int, version: int, step: str,
                      now: float, status: str = "active") -> None:
        with self.transaction():
            self.connection().execute(
                "INSERT INTO instances (user_id, journey, number, version, step, status, "
                "entered_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [user_id, journey, number, version, step, status, now, now])
