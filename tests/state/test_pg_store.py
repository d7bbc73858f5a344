"""The PostgreSQL store, the commands' side, on a real server: what a missing or foreign schema
reads as, connection and permission errors, and the advisory apply lock."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psycopg
import pytest

from journeyctl.state.base import LockedError, StateError
from journeyctl.state.pg import PgStore
from journeyctl.state.urls import PostgresUrl, parse_state_url


def location(url: str, schema: str = "shop") -> PostgresUrl:
    parsed = parse_state_url(f"{url}?schema={schema}", Path("."))
    assert isinstance(parsed, PostgresUrl)
    return parsed


def test_a_missing_state_reads_as_none_and_is_not_made_by_a_reader(pg_url: str) -> None:
    store = PgStore(location(pg_url), readonly=True)
    assert not store.exists and store.snapshot().serial == 0 and store.history() == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'shop'").fetchone() \
            is None
    made = PgStore(location(pg_url), create=True)
    assert made.exists and made.snapshot().lineage
    made.close()


def test_a_server_that_is_not_there_is_named_without_a_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StateError) as caught:
        PgStore(location(f"postgresql://ci@127.0.0.1:{port}/journeys"))
    assert caught.value.code == "JC960"
    assert caught.value.message == (f"cannot connect to the state postgresql://ci@127.0.0.1:"
                                    f"{port}/journeys?schema=shop: connection refused")
    assert caught.value.hint is not None and "is the server running" in caught.value.hint


def test_a_schema_of_other_tables_is_refused_and_left_alone(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders (id int)")
    with pytest.raises(StateError) as caught:
        PgStore(location(pg_url), create=True)
    assert "is not a journeyctl state: it has other tables (orders)" in caught.value.message


def test_the_lock_goes_with_its_session(pg_url: str) -> None:
    holder = PgStore(location(pg_url), create=True)
    other = PgStore(location(pg_url))
    lock = holder.lock("apply", 0)
    with pytest.raises(LockedError) as caught:
        other.lock("apply", 0)
    assert caught.value.code == "JC962" and caught.value.holder.lock_id == lock.lock_id
    assert other.holder() == lock
    holder.close()  # a holder that dies: its session, and so its lock, end
    deadline = time.monotonic() + 30  # the server ends a closed session soon, not at once
    while other.holder() is not None:
        assert time.monotonic() < deadline, "the lock outlived its session"
        time.sleep(0.02)
    other.unlock(other.lock("apply", 0))
    other.close()


def test_force_unlock_ends_the_holders_session(pg_url: str) -> None:
    holder = PgStore(location(pg_url), create=True)
    lock = holder.lock("apply", 0)
    other = PgStore(location(pg_url))
    assert other.force_unlock("not-it") is None and other.holder() == lock
    assert other.force_unlock(lock.lock_id) == lock
    assert other.holder() is None
    other.unlock(other.lock("apply", 0))
    with pytest.raises(StateError):  # the hung holder's session was ended: it writes nothing
        holder.check_writable(0)
    holder.close()
    other.close()


def test_two_schemas_lock_apart(pg_url: str) -> None:
    shop = PgStore(location(pg_url, "shop"), create=True)
    blog = PgStore(location(pg_url, "blog"), create=True)
    shop.lock("apply", 0)
    blog.unlock(blog.lock("apply", 0))
    shop.close()
    blog.close()
