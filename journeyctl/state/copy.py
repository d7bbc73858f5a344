"""Copying a whole state from one store to another (`journeyctl state copy`): SQLite to
PostgreSQL when a project moves up to several daemons, and back, or file to file.

The copy IS the same state: its lineage, serial, project and creation time come along, so a
plan saved against the source applies to the target. Every row comes along with its ids (the
inbox's `seq`, the outbox's ids): the history, the applied versions, what the daemon runs on
(profiles, user states, instances, timers, schedule ticks, the inbox and the outbox, pending or
done, so that a retried event id or idempotency key is still known) and the inputs set aside.
PostgreSQL's sequences are moved past the copied ids.

Both states are locked (the apply lock) for the copy; the target is written in one transaction
(all or nothing) from rows read in chunks, in one consistent read of the source, and the rows
are counted table by table before it commits. A target that holds anything is refused: a copy
never overwrites a state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from journeyctl.diagnostics import Loc
from journeyctl.hints import command
from journeyctl.state import open_store
from journeyctl.state.base import LockedError, StateError, Store
from journeyctl.state.partitions import partition_of
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.urls import PostgresUrl, StateLocation

if TYPE_CHECKING:
    from journeyctl.state.pg import PgStore

CHUNK = 2000  # rows read and written at a time: a big inbox is never all in memory
NOT_COPIED_META = {"partitions"}  # the target's own (PostgreSQL: fixed when it was made)
TARGET_HINT = "copy into a new file, or an empty PostgreSQL database or schema (?schema=NAME " \
    "in the URL): a copy never overwrites a state"


@dataclass(frozen=True)
class Table:
    """A table both schemas hold, by the columns they share."""

    name: str
    columns: tuple[str, ...]
    order: str  # its key: rows are read in this order
    binary: tuple[str, ...] = ()  # encoded values (BYTEA in PostgreSQL)
    part: bool = False  # PostgreSQL keeps the user's partition on the row
    numbered: str | None = None  # the key PostgreSQL numbers from a sequence


TABLES = (
    Table("applies", ("id", "serial", "operation", "applied_at", "user", "git_commit",
                      "git_author", "git_dirty", "summary"), "id", numbered="id"),
    Table("journey_versions", ("journey", "version", "hash", "status", "action", "content",
                               "apply_id", "applied_at"), "journey, version"),
    Table("settings_versions", ("version", "hash", "content", "apply_id", "applied_at"),
          "version"),
    Table("profiles", ("user_id", "data", "updated_at"), "user_id", ("data",), part=True),
    Table("user_state", ("user_id", "state", "updated_at", "serial"), "user_id", ("state",),
          part=True),
    Table("instances", ("user_id", "journey", "number", "version", "step", "status",
                        "entered_at", "updated_at"), "user_id, journey, number"),
    Table("timers", ("id", "user_id", "key", "token", "due", "set_at"), "id", part=True,
          numbered="id"),
    Table("inbox", ("seq", "event_id", "user_id", "name", "time", "properties", "received_at",
                    "processed_at"), "seq", ("properties",), part=True, numbered="seq"),
    Table("outbox", ("id", "idempotency_key", "user_id", "journey", "step", "channel",
                     "template", "category", "payload", "status", "attempts",
                     "next_attempt_at", "created_at", "updated_at", "provider_id", "error"),
          "id", ("payload",), numbered="id"),
    Table("set_aside", ("id", "kind", "user_id", "detail", "error", "at"), "id", ("detail",),
          numbered="id"),
    Table("report_counts", ("hour", "slot", "version", "path", "count", "amount"),
          "hour, slot, version, path"),
    Table("aliases", ("user_id", "known_id", "at"), "user_id"),
    Table("suppressions", ("user_id", "reason", "at"), "user_id"),
)
TICK_COLUMNS = ("journey", "last_at", "set_at", "pending_at", "after")


@dataclass(frozen=True)
class Ends:
    """Where the copy reads and writes, as the user gave them (`--from`, `--to`)."""

    source: StateLocation
    target: StateLocation
    source_shown: str
    target_shown: str
    source_url: str
    target_url: str
    source_at: Loc
    target_at: Loc


@dataclass(frozen=True)
class Copied:
    lineage: str
    serial: int
    project: str | None
    counts: list[tuple[str, int]]  # (table, rows), the same in both


class Side(Protocol):
    """One store's rows, in its SQL dialect."""

    shown: str
    postgres: bool

    def transaction(self, read_only: bool) -> AbstractContextManager[None]: ...

    def read(self, query: str) -> Iterator[list[tuple[Any, ...]]]: ...

    def one(self, query: str) -> Any: ...

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
              ) -> None: ...

    def execute(self, query: str, args: list[Any]) -> None: ...

    def number_floor(self, table: Table) -> int: ...

    def set_number_floor(self, table: Table, floor: int) -> None: ...


def copy_state(ends: Ends, lock_timeout: float) -> Copied:
    """Copy the state at `ends.source` into `ends.target` (see the module)."""
    if _same(ends.source, ends.target):
        raise StateError("JC986", f"--from and --to name the same state ({ends.target_shown})",
                         TARGET_HINT, ends.target_at)
    with ExitStack() as stack:
        source = stack.enter_context(closing(_open_source(ends)))
        _refuse_live_daemons(source, ends)
        created = isinstance(ends.target, Path) and not ends.target.exists()
        try:
            target = stack.enter_context(closing(open_store(ends.target, create=True,
                                                            shown=ends.target_shown)))
            _refuse_filled(target, ends)
            stack.enter_context(_locked(source, ends.source_url, ends.source_at, lock_timeout))
            stack.enter_context(_locked(target, ends.target_url, ends.target_at, lock_timeout))
            _refuse_live_daemons(source, ends)  # (one may have started meanwhile)
            _refuse_filled(target, ends)
            return _copy(_side(source), _side(target), ends)
        except BaseException:
            if created:
                stack.close()
                _remove_sqlite(ends.target)
            raise
    raise AssertionError("unreachable")  # mypy: ExitStack may swallow an exception


def _same(a: StateLocation, b: StateLocation) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return os.path.realpath(a) == os.path.realpath(b)
    if isinstance(a, PostgresUrl) and isinstance(b, PostgresUrl):
        return _database(a) == _database(b)
    return False


def _database(url: PostgresUrl) -> tuple[str, int, str, str]:
    parts = urlsplit(url.conninfo)
    return (parts.hostname or "", parts.port or 5432, parts.path, url.schema)


def _open_source(ends: Ends) -> Store:
    source = open_store(ends.source, shown=ends.source_shown)
    if not source.exists or source.snapshot().serial == 0:
        source.close()
        raise StateError("JC969", f"there is no state at {ends.source_shown}: nothing was ever "
                         "applied there", "check --from: it names the state `apply` and "
                         "`serve` use (`state:` in journeyctl.yaml); a relative sqlite:/// "
                         "path is relative to the current folder here, and to the project "
                         "folder for the other commands", ends.source_at)
    return source


def _refuse_live_daemons(source: Store, ends: Ends) -> None:
    """A daemon running on the source would change it during the copy, and after it. Only a
    PostgreSQL state knows its daemons; an SQLite one cannot tell (the docs say: stop it)."""
    if not isinstance(ends.source, PostgresUrl):
        return
    alive = _side(source).one("SELECT COUNT(*), string_agg(host || ' (pid ' || pid || ')', "
                              "', ' ORDER BY host, pid) FROM daemons "
                              "WHERE expires_at > clock_timestamp()")
    if alive[0]:
        raise StateError("JC987", f"{alive[0]} daemon(s) are running on {ends.source_shown}: "
                         f"{alive[1]}", "stop every `journeyctl serve` on the source, then copy "
                         "again (a daemon that died is forgotten when its heartbeat lapses, "
                         "within seconds)", ends.source_at)


def _refuse_filled(target: Store, ends: Ends) -> None:
    side = _side(target)
    serial = target.snapshot().serial
    filled = [(t.name, n) for t in TABLES if (n := side.one(f"SELECT COUNT(*) FROM {t.name}")[0])]
    filled += [("ticks", n)] if (n := side.one("SELECT COUNT(*) FROM ticks")[0]) else []
    if serial or filled:
        held = f"serial {serial}" if serial else ", ".join(f"{n} rows in {t}" for t, n in filled)
        raise StateError("JC986", f"{ends.target_shown} already holds a state ({held})",
                         TARGET_HINT, ends.target_at)


@contextmanager
def _locked(store: Store, url: str, where: Loc, timeout: float) -> Iterator[None]:
    """The apply lock, for the copy; a holder named at the option that gave the state. (Only
    a project's folder can run force-unlock: it validates the project first.)"""
    try:
        lock = store.lock("copy", timeout)
    except LockedError as exc:
        holder = exc.holder
        unlock = f"unlock it from the project's folder: " \
            f"{command('force-unlock', holder.lock_id, '--state', url)}"
        hint = f"if no apply is running, {unlock}" if exc.gone else \
            f"wait for it to finish, raise --lock-timeout, or, if that process is gone for " \
            f"good, {unlock}"
        raise StateError(exc.code, exc.message, hint, where) from None
    try:
        yield
    finally:
        store.unlock(lock)


def _remove_sqlite(path: StateLocation) -> None:
    """A state file this copy made, taken away again: a failed copy leaves nothing behind."""
    assert isinstance(path, Path)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


# --- the copy ----------------------------------------------------------------------------------


def _copy(source: Side, target: Side, ends: Ends) -> Copied:
    # one consistent read of the source, from the first table to the last count
    with source.transaction(read_only=True), target.transaction(read_only=False):
        meta = dict(row for chunk in source.read("SELECT key, value FROM meta") for row in chunk)
        target.execute("DELETE FROM meta WHERE key NOT IN ('partitions')", [])
        target.write("meta", ("key", "value"),
                     [(k, v) for k, v in meta.items() if k not in NOT_COPIED_META])
        parts = _partitions(target)
        counts = [(table.name, _copy_table(source, target, table, parts)) for table in TABLES]
        counts.append(("ticks", _copy_ticks(source, target, ends)))
        _check(source, target, counts, ends)
        for table in TABLES:
            if table.numbered:
                target.set_number_floor(table, source.number_floor(table))
        if target.postgres:  # each partition's arrivals never go back (pg_migrations)
            target.execute("UPDATE partitions p SET received = m.received FROM (SELECT part, "
                           "MAX(received_at) AS received FROM inbox GROUP BY part) m "
                           "WHERE p.part = m.part", [])
    return Copied(meta.get("lineage", ""), int(meta.get("serial") or 0), meta.get("project"),
                  counts)


def _copy_table(source: Side, target: Side, table: Table, partitions: int) -> int:
    quoted = ", ".join(f'"{c}"' for c in table.columns)
    binary = [table.columns.index(c) for c in table.binary] if target.postgres else []
    user = table.columns.index("user_id") if table.part and target.postgres else None
    columns = table.columns + (("part",) if user is not None else ())
    copied = 0
    for chunk in source.read(f"SELECT {quoted} FROM {table.name} ORDER BY {table.order}"):
        rows = []
        for row in chunk:
            values = list(row)
            for index in binary:  # (an older SQLite row may hold its JSON as text)
                if isinstance(values[index], str):
                    values[index] = values[index].encode("utf-8")
            if user is not None:
                values.append(partition_of(values[user], partitions))
            rows.append(tuple(values))
        target.write(table.name, columns, rows)
        copied += len(rows)
    return copied


def _partitions(side: Side) -> int:
    """A PostgreSQL state's partitions (fixed when it was made); SQLite's one."""
    if not side.postgres:
        return 1
    return int(side.one("SELECT value FROM meta WHERE key = 'partitions'")[0])


def _copy_ticks(source: Side, target: Side, ends: Ends) -> int:
    """Schedule ticks: one row per journey in SQLite, where a tick being delivered pages
    through every user; in PostgreSQL the tick is recorded once (`ticks`) and paged through
    partition by partition (`tick_parts`)."""
    if source.postgres:
        ticks = _pg_ticks(source, ends, _partitions(source))
    else:
        ticks = [row for chunk in source.read(
            "SELECT journey, last_at, set_at, pending_at, after FROM ticks ORDER BY journey")
            for row in chunk]
    if not target.postgres:
        target.write("ticks", TICK_COLUMNS, ticks)
        return len(ticks)
    partitions = _partitions(target)
    target.write("ticks", TICK_COLUMNS[:3], [tick[:3] for tick in ticks])
    target.write("tick_parts", ("journey", "part", "pending_at", "after", "set_at"),
                 [(journey, part, pending_at, after, set_at)
                  for journey, _, set_at, pending_at, after in ticks if pending_at is not None
                  for part in range(partitions)])
    return len(ticks)


def _pg_ticks(source: Side, ends: Ends, partitions: int) -> list[tuple[Any, ...]]:
    """PostgreSQL's ticks as SQLite's: a tick pending in every partition at the same point is
    pending there; one delivered to some partitions only cannot be told in one row."""
    ticks = []
    for chunk in source.read(
            "SELECT t.journey, t.last_at, t.set_at, COUNT(p.part), "
            "COUNT(DISTINCT (p.pending_at, p.after)), MIN(p.pending_at), MIN(p.after) "
            "FROM ticks t LEFT JOIN tick_parts p ON p.journey = t.journey AND "
            "p.pending_at IS NOT NULL GROUP BY t.journey, t.last_at, t.set_at "
            "ORDER BY t.journey"):
        for journey, last_at, set_at, pending, points, pending_at, after in chunk:
            if pending and (pending < partitions or points > 1):
                raise StateError(
                    "JC987", f"the schedule tick of journey {journey} is half delivered on "
                    f"{ends.source_shown} ({pending} of {partitions} partitions to go, at "
                    "different points): one SQLite row cannot say where each stands",
                    "start one daemon on the source until the tick is delivered (a "
                    "tick pages through the users in seconds), stop it, then copy again",
                    ends.source_at)
            ticks.append((journey, last_at, set_at, pending_at if pending else None,
                          after if pending else ""))
    return ticks


def _check(source: Side, target: Side, counts: list[tuple[str, int]], ends: Ends) -> None:
    """Every table holds as many rows in the target as in the source (in the source's read,
    and in the target's transaction): otherwise nothing is committed."""
    for name, copied in counts:
        want = source.one(f"SELECT COUNT(*) FROM {name}")[0]
        have = target.one(f"SELECT COUNT(*) FROM {name}")[0]
        if not want == have == copied:
            raise StateError("JC987", f"the copy's {name} table does not match: {want} rows in "
                             f"{ends.source_shown}, {copied} copied, {have} in "
                             f"{ends.target_shown}; nothing was committed",
                             "make sure nothing else writes to either state (no daemon, no "
                             "apply), then copy again", ends.target_at)


# --- the two dialects --------------------------------------------------------------------------


def _side(store: Store) -> Side:
    if isinstance(store, SqliteStore):
        return _SqliteSide(store)
    from journeyctl.state.pg import PgStore

    assert isinstance(store, PgStore)
    return _PgSide(store)


class _SqliteSide:
    postgres = False

    def __init__(self, store: SqliteStore) -> None:
        assert store.db is not None
        self.conn = store.db.conn
        self.store = store
        self.shown = store.shown

    @contextmanager
    def transaction(self, read_only: bool) -> Iterator[None]:
        if not read_only:
            with self.store.transaction():
                yield
            return
        self.conn.execute("BEGIN")  # deferred: a snapshot from the first read on
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK")

    def read(self, query: str) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self.conn.execute(query)
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk

    def one(self, query: str) -> Any:
        return self.conn.execute(query).fetchone()

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        quoted = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)

    def execute(self, query: str, args: list[Any]) -> None:
        self.conn.execute(query, args)

    def number_floor(self, table: Table) -> int:
        """The highest id ever given (AUTOINCREMENT remembers ids of rows since deleted)."""
        assert table.numbered is not None
        found = self.one(f"SELECT MAX({table.numbered}) FROM {table.name}")[0] or 0
        given = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                  [table.name]).fetchone()
        return max(found, given[0] if given else 0)

    def set_number_floor(self, table: Table, floor: int) -> None:
        """Only the inbox numbers with AUTOINCREMENT: the other tables take the next id after
        the highest there, as SQLite always did."""
        if table.name != "inbox" or not floor:
            return
        done = self.conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?",
                                 [floor, table.name])
        if not done.rowcount:
            self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                              [table.name, floor])


class _PgSide:
    postgres = True

    def __init__(self, store: PgStore) -> None:
        self.store = store
        self.conn = store.connection()
        self.shown = store.shown

    @contextmanager
    def transaction(self, read_only: bool) -> Iterator[None]:
        with self.conn.transaction():
            if read_only:
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def read(self, query: str) -> Iterator[list[tuple[Any, ...]]]:
        # server-side, so in chunks; a cursor lives in a transaction (in the copy's, as a
        # savepoint)
        with self.conn.transaction(), self.conn.cursor(name="journeyctl_copy") as cursor:
            cursor.execute(query)  # type: ignore[arg-type]  # our own SQL
            while chunk := cursor.fetchmany(CHUNK):
                yield chunk

    def one(self, query: str) -> Any:
        return self.conn.execute(query).fetchone()  # type: ignore[arg-type]  # our own SQL

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        quoted = ", ".join(f'"{c}"' for c in columns)
        with self.conn.cursor() as cursor, cursor.copy(
                f"COPY {table} ({quoted}) FROM STDIN") as copy:  # type: ignore[arg-type]
            for row in rows:
                copy.write_row(row)

    def execute(self, query: str, args: list[Any]) -> None:
        self.conn.execute(query, args)  # type: ignore[arg-type]  # our own SQL

    def number_floor(self, table: Table) -> int:
        """The highest id the sequence gave (rows since deleted included), or in the table."""
        found = self.one(f"SELECT MAX({table.numbered}) FROM {table.name}")[0] or 0
        given = self.conn.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass)",
            [table.name, table.numbered]).fetchone()
        return max(found, given[0] or 0 if given else 0)

    def set_number_floor(self, table: Table, floor: int) -> None:
        """The next id after `floor` and after every copied id. (A sequence is not
        transactional: a copy rolled back leaves it further on, which costs nothing.)"""
        floor = max(floor, self.one(f"SELECT MAX({table.numbered}) FROM {table.name}")[0] or 0)
        if floor:
            self.conn.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                              [table.name, table.numbered, floor])
