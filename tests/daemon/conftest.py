"""Fixtures of the daemon tests, built from tests.support.harness. Every test that uses `state`
(or `applied`, `store`) runs on both stores: an SQLite file and a schema of a fresh PostgreSQL
database (`pg_url`: skipped outside CI when PostgreSQL is not installed, failed in CI). A test
about SQLite itself, or too slow to run twice for what it shows, says so with
`harness.SQLITE_ONLY`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.state.base import Store
from journeyctl.state.pg import PgStore
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.urls import PostgresUrl, parse_state_url
from tests.support.harness import State, apply, project_copy


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A fake provider on loopback, for the channels of the test project."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> State:
    """A fresh state location, nothing applied yet: an SQLite file, or a schema (not the
    default one) of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    return request.getfixturevalue("pg_url") + "?schema=journeys"


@pytest.fixture
def applied(tmp_path: Path, state: State) -> tuple[Path, State]:
    """The test project, copied, and a state it is applied to: (project, state)."""
    project = project_copy(tmp_path)
    apply(project, state)
    return project, state


@pytest.fixture
def store(tmp_path: Path, state: State) -> Iterator[Store]:
    """An applied state, open."""
    apply(project_copy(tmp_path), state)
    opened: Store
    if isinstance(state, Path):
        opened = SqliteStore(state)
    else:
        url = parse_state_url(state, tmp_path)
        assert isinstance(url, PostgresUrl)
        opened = PgStore(url)
    yield opened
    opened.close()
