"""Pruning what the daemon has finished with: processed inbox rows and finished outbox rows
older than the project's retention (docs/language.md, "Retention"). Pending work, inputs set
aside, user states, timers and instances are never touched.

A table is walked from its oldest row, a window of rows at a time, each window its own short
transaction (the caller hands the core thread one window per call, so ingest waits for one
window at most). Rows are made in key order, so the walk stops at the first window whose last
row was made after the cutoff: nothing later can be old enough. No index is needed, and a walk
costs the rows older than the cutoff, not the table.

Deleted pages go to SQLite's freelist and are reused by the next inserts: the file stops
growing. A state created with `auto_vacuum = INCREMENTAL` (every new one) also gives a large
surplus of free pages back to the file system (`release_space`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from journeyctl.state.sqlite import SqliteStore

WINDOW = 500  # rows per transaction
FINISHED = ("sent", "failed", "expired")  # an outbox row no longer pending


@dataclass(frozen=True)
class Prunable:
    kind: str  # the `retention` setting and the metric's label
    table: str
    key: str  # grows with every row made
    made: str  # when the row was made: grows with `key`
    finished_before: str  # SQL: the row is finished, and was finished before the cutoff (?)


EVENTS = Prunable("events", "inbox", "seq", "received_at",
                  "processed_at IS NOT NULL AND processed_at < ?")
MESSAGES = Prunable("messages", "outbox", "id", "created_at",
                    f"status IN {FINISHED!r} AND updated_at < ?")
PRUNABLE = (EVENTS, MESSAGES)


def prune_window(store: SqliteStore, what: Prunable, after: int, cutoff: float,
                 limit: int = WINDOW) -> tuple[int, int | None]:
    """Delete the rows of `what` finished before `cutoff` among the `limit` rows after key
    `after`: (rows deleted, the key to go on after — None when the walk is done)."""
    db = store.db
    assert db is not None

    def delete(sql: str, args: list[Any]) -> int:
        with store.transaction():
            return int(db.execute(sql, args).rowcount)

    return walk(what, after, cutoff, lambda sql, args: db.execute(sql, args).fetchall(),
                delete, "?", limit)


def walk(what: Prunable, after: int, cutoff: float,
         rows: Callable[[str, list[Any]], Sequence[Sequence[Any]]],
         delete: Callable[[str, list[Any]], int], mark: str,
         limit: int = WINDOW) -> tuple[int, int | None]:
    """One window of the walk, on any store: `rows` runs a query, `delete` a deletion in a
    transaction of its own, both with `mark` for a parameter (`?`, `%s`)."""
    window = rows(f"SELECT {what.key}, {what.made} FROM {what.table} WHERE {what.key} > {mark} "
                  f"ORDER BY {what.key} LIMIT {mark}", [after, limit])
    if not window or window[0][1] >= cutoff:  # finished after it was made: too young
        return 0, None
    last, made = window[-1]
    deleted = delete(f"DELETE FROM {what.table} WHERE {what.key} > {mark} AND {what.key} <= "
                     f"{mark} AND {what.finished_before.replace('?', mark)}",
                     [after, last, cutoff])
    done = len(window) < limit or made >= cutoff
    return deleted, None if done else last


def release_space(store: SqliteStore, pages: int = 2000) -> int:
    """Give free pages back to the file system, `pages` at most, when more than a quarter of
    the file is free — keeping an eighth of it free for the inserts to come. Only a state with
    incremental auto-vacuum can (SQLite fixes that when the file is created); the others keep
    their free pages for reuse. Returns the pages released."""
    db = store.db
    assert db is not None
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: incremental
        return 0
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    total = db.execute("PRAGMA page_count").fetchone()[0]
    if free * 4 <= total:
        return 0
    count = min(pages, free - total // 8)
    db.execute(f"PRAGMA incremental_vacuum({int(count)})").fetchall()  # runs as it is stepped
    return count
