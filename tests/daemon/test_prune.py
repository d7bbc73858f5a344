"""Pruning on a real applied state, SQLite and PostgreSQL (see journeyctl.state.prune and
`Runtime.prune`): only finished rows older than the cutoff go, a window at a time; pending
work and inputs set aside stay. On SQLite, free pages are given back to the file system in a
new state, kept for reuse in an old one."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from journeyctl.state.base import Runtime
from journeyctl.state.prune import WINDOW, release_space
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from tests.support.harness import SQLITE_ONLY, State, apply, execute, open_core, project_copy, rows

pytestmark = pytest.mark.e2e  # every test here starts a process

NOW = 1_780_000_000.0
CUTOFF = NOW - 3600


@pytest.fixture
def runtime(applied: tuple[Path, State]) -> Iterator[Runtime]:
    core = open_core(applied[1])
    yield core.runtime
    core.close()


def inbox(runtime: Runtime, state: State, *ages: tuple[float, float | None]) -> None:
    """Rows received `made` seconds before NOW, processed `done` seconds before (None: not),
    event ids e00000, e00001, ... (rows of the same ages in a row go in together)."""
    number = 0
    for (made, done), same in itertools.groupby(ages):
        first, count = number, len(list(same))
        number += count
        runtime.ingest([[{"event_id": f"e{n:05}", "user_id": "u", "event": "signup",
                          "time": NOW} for n in range(first, number)]], NOW - made)
        execute(state, "UPDATE inbox SET processed_at = ? WHERE event_id BETWEEN ? AND ?",
                None if done is None else NOW - done, f"e{first:05}", f"e{number - 1:05}")


def outbox(state: State, *messages: tuple[str, float]) -> None:
    """Rows made two days before NOW, with `status`, last updated `age` seconds before."""
    for number, (status, age) in enumerate(messages):
        execute(state,
                "INSERT INTO outbox (idempotency_key, user_id, journey, step, channel, template, "
                "category, payload, status, created_at, updated_at) VALUES (?, 'u', 'j', 's', "
                "'email', 't', 'transactional', '{}', ?, ?, ?)",
                f"k{number}", status, NOW - 2 * 86400, NOW - age)


def walk(runtime: Runtime, kind: str) -> tuple[int, int]:
    """A whole walk, as the daemon's pruner does it: (rows deleted, windows)."""
    after, deleted, windows = 0, 0, 0
    while True:
        count, following = runtime.prune(kind, after, CUTOFF)
        deleted, windows = deleted + count, windows + 1
        if following is None:
            return deleted, windows
        after = following


def test_only_processed_events_past_the_cutoff_go(applied: tuple[Path, State],
                                                  runtime: Runtime) -> None:
    _, state = applied
    inbox(runtime, state, (7200, 7100), (7200, 7000), (7000, 60), (5000, None), (30, 20),
          (10, None))
    execute(state, "INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                   "('InboxRow', 'u', '{}', 'boom', ?)", NOW - 9 * 86400)
    assert walk(runtime, "events") == (2, 1)
    # processed a minute ago (made long before), not processed, recent: all kept
    assert [r[0] for r in rows(state, "SELECT event_id FROM inbox ORDER BY seq")] == [
        "e00002", "e00003", "e00004", "e00005"]
    assert rows(state, "SELECT COUNT(*) FROM set_aside") == [(1,)]


def test_only_finished_messages_past_the_cutoff_go(applied: tuple[Path, State],
                                                   runtime: Runtime) -> None:
    _, state = applied
    outbox(state, ("sent", 7200), ("pending", 90000), ("failed", 4000), ("expired", 3700),
           ("sent", 100), ("failed", 10))
    assert walk(runtime, "messages") == (3, 1)
    assert rows(state, "SELECT idempotency_key, status FROM outbox ORDER BY id") == [
        ("k1", "pending"), ("k4", "sent"), ("k5", "failed")]


def test_a_walk_goes_a_window_at_a_time_and_stops_at_young_rows(applied: tuple[Path, State],
                                                                runtime: Runtime) -> None:
    _, state = applied
    inbox(runtime, state, *[(7200, 7200)] * (2 * WINDOW + 1), *[(60, 50)] * WINDOW)
    assert runtime.prune("events", 0, CUTOFF) == (WINDOW, WINDOW)  # goes on after seq WINDOW
    # a full window of old rows, then one holding the last old row and young ones: done
    assert walk(runtime, "events") == (WINDOW + 1, 2)
    assert rows(state, "SELECT COUNT(*) FROM inbox") == [(WINDOW,)]
    # a window that starts young is not even opened
    assert runtime.prune("events", 0, CUTOFF) == (0, None)


@SQLITE_ONLY  # SQLite's free pages and auto_vacuum (PostgreSQL's autovacuum reuses the space)
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
    assert walk(SqliteRuntime(store), "messages")[0] == 3000
    released = 0
    while count := release_space(store):
        released += count
    assert released > pages // 2
    assert store.db.execute("PRAGMA page_count").fetchone()[0] < pages // 2


def test_an_old_state_keeps_its_free_pages_for_reuse(tmp_path: Path) -> None:
    # SQLite only: the file's auto_vacuum setting, which PostgreSQL has no counterpart of
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
