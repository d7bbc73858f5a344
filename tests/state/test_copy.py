"""`journeyctl.state.copy` on real stores: SQLite files and a real PostgreSQL database (the
session's throwaway server), in this process. The CLI's side is tests/test_cli_state_copy.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from journeyctl.diagnostics import option
from journeyctl.engine import effects as fx
from journeyctl.engine.state import new_state
from journeyctl.plan import Desired, make_plan
from journeyctl.state import copy as copying
from journeyctl.state import open_store
from journeyctl.state.base import ApplyMeta, CountRow, Delivery, InboxRow, StateError, Store
from journeyctl.state.copy import Copied, Ends, copy_state
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg import PgStore
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from journeyctl.state.urls import StateLocation, parse_state_url

T0 = 1_780_000_000.0
JOURNEY = {"journey": {"journey": "j", "steps": [{"id": "a"}, {"id": "b"}]}, "templates": {}}
SETTINGS = {"project": {"name": "p"}, "events": {"events": {}}, "channels": None}
USERS = [f"u{n}" for n in range(1, 8)]
COPIED = ["applies", "journey_versions", "settings_versions", "profiles", "user_state",
          "instances", "timers", "inbox", "outbox", "set_aside", "report_counts", "aliases",
          "suppressions", "ticks"]


def where(url: str, root: Path) -> StateLocation:
    return parse_state_url(url, root)


def ends(source: str, target: str, root: Path) -> Ends:
    return Ends(where(source, root), where(target, root), source, target, source, target,
                option("--from"), option("--to"))


def apply(store: Store, journeys: dict[str, Any], now: float) -> None:
    plan = make_plan(Desired("p", journeys, SETTINGS), store.snapshot(), now, "s", "/s")
    store.apply(plan, ApplyMeta("apply", "me", "abc123", "Min Kim", True), now)


def seeded(path: Path) -> SqliteStore:
    """An SQLite state two applies old, with a row or more in every runtime table: users with
    profiles and states, an instance at a step, timers, the inbox (an event processed, others
    pending, the newest pruned), the outbox (a message sent, one pending), a schedule tick
    half paged through, an event set aside, the live report's counts (a whole number and an
    amount), an alias."""
    store = SqliteStore(path, create=True)
    apply(store, {"j": JOURNEY}, T0)
    apply(store, {"j": {**JOURNEY, "journey": {**JOURNEY["journey"], "status": "paused"}}},
          T0 + 1)
    runtime = SqliteRuntime(store)
    runtime.upsert_profiles([{"user_id": u, "email": f"{u}@x", "n": n}
                             for n, u in enumerate(USERS)], T0)
    runtime.ingest([[{"event_id": f"e{n}", "user_id": u, "event": "signup", "time": T0 + n,
                      "properties": {"plan": "pro", "at": n}} for n, u in enumerate(USERS)]],
                   T0 + 10)
    for user in USERS[:3]:
        row = runtime.next_event(T0 + 20)
        assert row is not None and row.user_id == user
        state, _ = runtime.load_user(user, new_state)
        message = {"idempotency_key": f"k-{user}", "user_id": user, "journey": "j", "step": "a",
                   "channel": "email", "template": "t", "category": "transactional",
                   "time": T0 + 20}
        runtime.commit(state, [fx.Entered(user, "j", 1, T0, 1),
                               fx.StepReached(user, "j", 1, "a", T0),
                               fx.SetTimer(user, "w", 1, T0 + 3600)],
                       [message], at=T0 + 20, now=T0 + 20.5, serial=2, inbox_seq=row.seq)
    runtime.take_out("anon-1", USERS[0], T0 + 25)  # an identity merge's alias
    sent = runtime.due_messages(T0 + 30, {"email": 1}, [])
    runtime.record_deliveries([Delivery(sent[0].id, "sent", 1, "prov-1", None)], T0 + 31)
    pending = runtime.next_event(T0 + 40)
    assert isinstance(pending, InboxRow)
    runtime.set_aside(pending, "boom", T0 + 41)
    runtime.schedule_tick("j", T0 + 60)
    tick = runtime.next_tick(T0 + 60)
    assert tick is not None
    runtime.tick_progress(tick, "u2")
    runtime.add_counts([CountRow(3600, 1, '["journeys","j","entered"]', 3),
                        CountRow(3600, 1, '["channel_cost","email"]', 0.25)])
    assert store.db is not None
    with store.transaction():  # as retention prunes: AUTOINCREMENT remembers the seq
        store.db.execute("DELETE FROM inbox WHERE seq = (SELECT MAX(seq) FROM inbox)")
    return store


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every copied row, by table, in the columns both schemas share (bytes as bytes)."""
    side = copying._side(store)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in copying.TABLES:
        columns = ", ".join(f'"{c}"' for c in table.columns)
        tables[table.name] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                              for chunk in side.read(f"SELECT {columns} FROM {table.name} "
                                                     f"ORDER BY {table.order}")
                              for row in chunk]
    return tables


def meta(store: Store) -> dict[str, str]:
    side = copying._side(store)
    return {k: v for chunk in side.read("SELECT key, value FROM meta") for k, v in chunk
            if k != "partitions"}


def sqlite_ticks(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT journey, last_at, pending_at, after, set_at FROM ticks"
                          ).fetchall()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    seeded(tmp_path / "source.db").close()
    return tmp_path / "source.db"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 2 rows: every table of more than two rows is read and written in several."""
    monkeypatch.setattr(copying, "CHUNK", 2)


def test_sqlite_to_postgresql_keeps_every_row_the_meta_and_the_numbering(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    copied = copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)

    old = SqliteStore(source)
    new = PgStore(where(pg_url, tmp_path))  # type: ignore[arg-type]
    try:
        assert isinstance(copied, Copied) and copied.serial == 2 and copied.project == "p"
        assert dict(copied.counts) == {name: len(rows) for name, rows in dump(old).items()} | {
            "ticks": 1}
        assert list(dict(copied.counts)) == COPIED
        assert dump(new) == dump(old)
        assert meta(new) == meta(old)  # lineage, serial, project, created_at: the same state
        assert new.snapshot() == old.snapshot()
        assert new.history() == old.history()
        conn = new.connection()
        for table in ("profiles", "user_state", "timers", "inbox"):
            for user, part in conn.execute(f"SELECT user_id, part FROM {table}"):
                assert part == partition_of(user, 32), (table, user)
        # the tick being paged through goes on in every partition after u2
        assert conn.execute("SELECT COUNT(*), MIN(after), MAX(after), MIN(pending_at) FROM "
                            "tick_parts").fetchone() == (32, "u2", "u2", T0 + 60)
        assert conn.execute("SELECT last_at, set_at FROM ticks").fetchone() == (T0 + 60, T0 + 60)
        # new rows are numbered past the copied ones, and past the pruned inbox row
        assert old.db is not None
        pruned = old.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'"
                                ).fetchone()[0]
        inserted = conn.execute("INSERT INTO inbox (user_id, part, name, time, properties, "
                                "received_at) VALUES ('x', 0, 'n', 0, '', 0) RETURNING seq"
                                ).fetchone()
        assert inserted is not None and inserted[0] == pruned + 1
        applied = conn.execute("INSERT INTO applies (serial, operation, applied_at, \"user\", "
                               "summary) VALUES (3, 'apply', '', 'me', '{}') RETURNING id"
                               ).fetchone()
        assert applied is not None and applied[0] == 3
        received = conn.execute("SELECT MAX(received) FROM partitions").fetchone()
        assert received is not None and received[0] == T0 + 10
    finally:
        old.close()
        new.close()


def test_a_round_trip_sqlite_postgresql_sqlite_keeps_every_row(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    back = tmp_path / "back" / "state.db"
    copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)
    copy_state(ends(pg_url, f"sqlite:///{back}", tmp_path), 0)

    with sqlite3.connect(source) as before, sqlite3.connect(back) as after:
        tables = [r[0] for r in before.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
            "('migrations', 'lock') ORDER BY name")]
        assert set(COPIED) | {"meta", "sqlite_sequence"} == set(tables)
        for table in tables:
            keep = "WHERE key != 'written_at'" if table == "meta" else ""
            rows = f"SELECT * FROM {table} {keep} ORDER BY 1, 2"
            assert after.execute(rows).fetchall() == before.execute(rows).fetchall(), table
    assert sqlite_ticks(back) == [("j", T0 + 60, T0 + 60, "u2", T0 + 60)]


def test_sqlite_to_sqlite_copies_into_a_new_file(source: Path, tmp_path: Path) -> None:
    copied = copy_state(ends(f"sqlite:///{source}", "sqlite:///copy.db", tmp_path), 0)
    assert copied.serial == 2
    old, new = SqliteStore(source), SqliteStore(tmp_path / "copy.db")
    try:
        assert dump(new) == dump(old) and meta(new) == meta(old)
        assert new.holder() is None and old.holder() is None  # both locks released
    finally:
        old.close()
        new.close()


def test_a_target_that_holds_a_state_is_never_overwritten(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)
    again = ends(f"sqlite:///{source}", pg_url, tmp_path)
    with pytest.raises(StateError) as refused:
        copy_state(again, 0)
    assert refused.value.code == "JC986"
    assert refused.value.message == f"{pg_url} already holds a state (serial 2)"
    assert "a copy never overwrites a state" in str(refused.value.hint)
    assert refused.value.diagnostics[0].loc == option("--to")

    other = seeded(tmp_path / "other.db")
    other.close()
    with pytest.raises(StateError) as file:
        copy_state(ends(f"sqlite:///{source}", f"sqlite:///{tmp_path / 'other.db'}",
                        tmp_path), 0)
    assert file.value.code == "JC986"


def test_runtime_rows_without_an_apply_count_as_a_state(source: Path, tmp_path: Path) -> None:
    target = SqliteStore(tmp_path / "t.db", create=True)
    assert target.db is not None
    with target.transaction():
        target.db.execute("INSERT INTO profiles VALUES ('u', '{}', 0)")
    target.close()
    with pytest.raises(StateError) as refused:
        copy_state(ends(f"sqlite:///{source}", "sqlite:///t.db", tmp_path), 0)
    assert refused.value.code == "JC986" and "(1 rows in profiles)" in refused.value.message


def test_a_source_without_a_state_and_the_same_state_twice_are_refused(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(StateError) as missing:
        copy_state(ends("sqlite:///missing.db", pg_url, tmp_path), 0)
    assert missing.value.code == "JC969"
    assert missing.value.diagnostics[0].loc == option("--from")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StateError) as empty:  # made, never applied
        copy_state(ends(pg_url, "sqlite:///new.db", tmp_path), 0)
    assert empty.value.code == "JC969" and not (tmp_path / "new.db").exists()

    for same in (f"sqlite:///{source}", pg_url):
        with pytest.raises(StateError) as twice:
            copy_state(ends(same, same.replace("source.db", "./source.db"), tmp_path), 0)
        assert twice.value.code == "JC986" and "the same state" in twice.value.message


def test_a_postgresql_source_with_a_daemon_alive_is_refused(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO daemons VALUES ('d1', 'web-1', 41, now(), "
                     "clock_timestamp() - interval '1 second')")  # died: its heartbeat lapsed
    copy_state(ends(pg_url, "sqlite:///one.db", tmp_path), 0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO daemons VALUES ('d2', 'web-2', 42, now(), "
                     "clock_timestamp() + interval '1 minute')")
    with pytest.raises(StateError) as refused:
        copy_state(ends(pg_url, "sqlite:///two.db", tmp_path), 0)
    assert refused.value.code == "JC987"
    assert refused.value.message == f"1 daemon(s) are running on {pg_url}: web-2 (pid 42)"
    assert refused.value.diagnostics[0].loc == option("--from")
    assert not (tmp_path / "two.db").exists()


def test_a_locked_source_waits_then_names_the_holder(source: Path, tmp_path: Path,
                                                     pg_url: str) -> None:
    holder = SqliteStore(source)
    lock = holder.lock("apply", timeout=0)
    try:
        with pytest.raises(StateError) as locked:
            copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)
    finally:
        holder.unlock(lock)
        holder.close()
    assert locked.value.code == "JC962" and locked.value.diagnostics[0].loc == option("--from")
    assert f"journeyctl force-unlock {lock.lock_id} --state sqlite:///{source}" in str(
        locked.value.hint)
    target = open_store(where(pg_url, tmp_path))
    try:
        assert target.snapshot().serial == 0  # nothing copied
    finally:
        target.close()


@pytest.mark.parametrize("to_postgres", [True, False])
def test_counts_that_differ_undo_the_whole_copy(
        source: Path, tmp_path: Path, pg_url: str, to_postgres: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    target = pg_url if to_postgres else "sqlite:///t.db"
    real = copying._copy_table

    def one_short(source: Any, target: Any, table: copying.Table, parts: int) -> int:
        copied = real(source, target, table, parts)
        if table.name == "outbox":
            target.execute("DELETE FROM outbox WHERE id = (SELECT MAX(id) FROM outbox)", [])
        return copied

    monkeypatch.setattr(copying, "_copy_table", one_short)
    with pytest.raises(StateError) as mismatch:
        copy_state(ends(f"sqlite:///{source}", target, tmp_path), 0)
    assert mismatch.value.code == "JC987"
    assert mismatch.value.message.startswith("the copy's outbox table does not match: 3 rows in")
    assert "2 in" in mismatch.value.message and "nothing was committed" in mismatch.value.message
    if not to_postgres:
        assert not (tmp_path / "t.db").exists()  # the file it made is gone
        return
    left = PgStore(where(pg_url, tmp_path))  # type: ignore[arg-type]
    try:
        assert left.snapshot().serial == 0 and left.holder() is None
        assert {n: len(rows) for n, rows in dump(left).items()} == dict.fromkeys(COPIED[:-1], 0)
    finally:
        left.close()
    monkeypatch.setattr(copying, "_copy_table", real)
    assert copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0).serial == 2


def test_a_tick_half_delivered_across_partitions_is_refused_for_sqlite(
        source: Path, tmp_path: Path, pg_url: str) -> None:
    copy_state(ends(f"sqlite:///{source}", pg_url, tmp_path), 0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE tick_parts SET pending_at = NULL WHERE part < 3")
    with pytest.raises(StateError) as refused:
        copy_state(ends(pg_url, "sqlite:///back.db", tmp_path), 0)
    assert refused.value.code == "JC987"
    assert "the schedule tick of journey j is half delivered" in refused.value.message
    assert "(29 of 32 partitions to go" in refused.value.message
    with psycopg.connect(pg_url, autocommit=True) as conn:  # delivered everywhere: not pending
        conn.execute("UPDATE tick_parts SET pending_at = NULL")
    copy_state(ends(pg_url, "sqlite:///back.db", tmp_path), 0)
    assert sqlite_ticks(tmp_path / "back.db") == [("j", T0 + 60, None, "", T0 + 60)]
