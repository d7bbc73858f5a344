"""Ingest's group commit on a real applied state (SQLite and PostgreSQL): each request is its
own savepoint (one that cannot be stored fails alone), and a store that cannot commit says
why."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from journeyctl.daemon.core_thread import GroupCommit
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from tests.support.harness import SQLITE_ONLY, State, open_core, rows


def events(user: str, count: int, **properties: object) -> list[dict]:
    return [{"event_id": f"{user}-{i}", "user_id": user, "event": "signup", "time": time.time(),
             "properties": properties} for i in range(count)]


@pytest.mark.e2e
def test_a_request_that_cannot_be_stored_fails_alone(applied: tuple[Path, State]) -> None:
    _, state = applied
    core = open_core(state)
    unstorable = [*events("bad", 2), *events("bad2", 1, when=object())]
    results = core.ingest([events("a", 3), unstorable, events("b", 2)])
    core.close()
    assert results[0] == (3, 0) and results[2] == (2, 0)
    assert isinstance(results[1], TypeError)
    # the failed request's first events were rolled back with it
    assert rows(state, "SELECT user_id, COUNT(*) FROM inbox GROUP BY user_id ORDER BY 1") == [
        ("a", 3), ("b", 2)]


@pytest.mark.e2e
@SQLITE_ONLY  # SQLite's own "database or disk is full", and how it ends the transaction
def test_a_full_store_fails_every_request_with_its_own_reason(store: SqliteStore) -> None:
    runtime = SqliteRuntime(store)
    assert store.db is not None
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL past this size
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        # SQLite ends the transaction itself: the error is kept, not hidden behind a failed
        # ROLLBACK ("cannot rollback - no transaction is active")
        runtime.ingest([events("a", 1), events("big", 50, blob="x" * 10_000)], time.time())
    assert not store.db.conn.in_transaction
    store.db.execute(f"PRAGMA max_page_count = {pages * 100}")
    assert runtime.ingest([events("a", 1)], time.time()) == [(1, 0)]


def test_group_commit_fails_only_the_items_that_failed() -> None:
    def run_batch(items: list[int]) -> list[int | Exception]:
        return [ValueError(f"no {i}") if i % 2 else i * 10 for i in items]

    async def main() -> list[asyncio.Task[int]]:
        with ThreadPoolExecutor(1) as executor:
            group = GroupCommit(executor, run_batch)
            tasks = [asyncio.create_task(group.submit(i)) for i in range(4)]
            await asyncio.wait(tasks)
            return tasks

    tasks = asyncio.run(main())
    assert [t.result() for t in tasks[::2]] == [0, 20]
    assert [str(t.exception()) for t in tasks[1::2]] == ["no 1", "no 3"]  # raised, not returned
