"""Pruning on a real applied SQLite state (see journeyctl.state.prune): only finished rows
older than the cutoff go, a window at a time; pending work and inputs set aside stay; free
pages are given back to the file system in a new state, kept for reuse in an old one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from journeyctl.state.prune import EVENTS, MESSAGES, Prunable, prune_window, release_space
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from tests.support.harness import apply, project_copy, rows

pytestmark = pytest.mark.e2e  # every test here starts a process

NOW = 1_780_000_000.0
CUTOFF = NOW - 3600


def inbox(store: SqliteStore, *ages: tuple[float, float | None]) -> None:
    """Rows received `made` seconds before NOW, processed `done` seconds before (None: not)."""
    runtime = SqliteRuntime(store)
    for number, (made, done) in enumerate(ages):
        runtime.ingest([[{"event_id": f"e{number}", "user_id": "u", "event": "signup",
                          "time": NOW}]], NOW - made)
        store.db.execute("UPDATE inbox SET processed_at = ? WHERE event_id = ?",
                         [None if done is None else NOW - done, f"e{number}"])


def outbox(store: SqliteStore, *messages: tuple[str, float]) -> None:
    """Rows made two days before NOW, with `status`, last updated `age` seconds before."""
    for number, (status, age) in enumerate(messages):
        store.db.execute(
            "INSERT INTO outbox (idempotency_key, user_id, journey, step, channel, template, "
            "category, payload, status, created_at, updated_at) VALUES (?, 'u', 'j', 's', "
            "'email', 't', 'transactional', '{}', ?, ?, ?)",
            [f"k{number}", status, NOW - 2 * 86400, NOW - age])


def walk(store: SqliteStore, what: Prunable, limit: int = 500) -> tuple[int, int]:
    """A whole walk: (rows deleted, windows)."""
    after, deleted, windows = 0, 0, 0
    while True:
        count, following = prune_window(store, what, after, CUTOFF, limit)
        deleted, windows = deleted + count, windows + 1
        if following is None:
            return deleted, windows
        after = following


def test_only_processed_events_past_the_cutoff_go(store: SqliteStore) -> None:
    inbox(store, (7200, 7100), (7200, 7000), (7000, 60), (5000, None), (30, 20), (10, None))
    store.db.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                     "('InboxRow', 'u', '{}', 'boom', ?)", [NOW - 9 * 86400])
    assert walk(store, EVENTS) == (2, 1)
    # processed a minute ago (made long before), not processed, recent: all kept
    assert [r[0] for r in rows(Path(store.path), "SELECT event_id FROM inbox ORDER BY seq")] \
        == ["e2", "e3", "e4", "e5"]
    assert rows(Path(store.path), "SELECT COUNT(*) FROM set_aside") == [(1,)]


def test_only_finished_messages_past_the_cutoff_go(store: SqliteStore) -> None:
    outbox(store, ("sent", 7200), ("pending", 90000), ("failed", 4000), ("expired", 3700),
           ("sent", 100), ("failed", 10))
    assert walk(store, MESSAGES) == (3, 1)
    assert rows(Path(store.path), "SELECT idempotency_key, status FROM outbox ORDER BY id") == [
        ("k1", "pending"), ("k4", "sent"), ("k5", "failed")]


def test_a_walk_goes_a_window_at_a_time_and_stops_at_young_rows(store: SqliteStore) -> None:
    inbox(store, *[(7200, 7200)] * 7, *[(60, 50)] * 5)
    assert prune_window(store, EVENTS, 0, CUTOFF, limit=3) == (3, 3)  # goes on after seq 3
    # 3, then 1 in a window that ends on young rows: done
    assert walk(store, EVENTS, limit=3) == (4, 2)
    assert rows(Path(store.path), "SELECT COUNT(*) FROM inbox") == [(5,)]
    # a window that starts young is not even opened
    assert prune_window(store, EVENTS, 0, CUTOFF, limit=3) == (0, None)


def test_free_pages_go_back_to_the_file_system_in_a_new_state(store: SqliteStore) -> None:
    assert store.db.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
    big = "x" * 2000
    with store.transaction():
        for number in range(3000):
            store.db.execute(
                "INSERT INTO outbox (idempotency_key, user_id, journey, step, channel, "
                "template, category, payload, status, created_at, updated_at) VALUES (?, 'u', "
                "'j', 's', 'email', 't', 'transactional', ?, 'sent', ?, ?)",
                [f"k{number}", big, NOW - 86400, NOW - 86400])
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    assert walk(store, MESSAGES)[0] == 3000
    released = 0
    while count := release_space(store):
        released += count
    assert released > pages // 2
    assert store.db.execute("PRAGMA page_count").fetchone()[0] < pages // 2


def test_an_old_state_keeps_its_free_pages_for_reuse(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    apply(project_copy(tmp_path), state)
    with closing(sqlite3.connect(state)) as db:
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("VACUUM")  # what a state made before this version looks like
    store = SqliteStore(state)
    try:
        assert store.db.execute("PRAGMA auto_vacuum").fetchone() == (0,)
        assert release_space(store) == 0
    finally:
        store.close()
