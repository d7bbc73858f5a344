"""Fixtures of the daemon tests, built from tests.support.harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.state.sqlite import SqliteStore
from tests.support.harness import apply, project_copy


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A fake provider on loopback, for the channels of the test project."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def applied(tmp_path: Path) -> tuple[Path, Path]:
    """The test project, copied, and a state it is applied to: (project, state file)."""
    project = project_copy(tmp_path)
    state = tmp_path / "state.db"
    apply(project, state)
    return project, state


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """An applied state, open."""
    path = tmp_path / "state.db"
    apply(project_copy(tmp_path), path)
    opened = SqliteStore(path)
    yield opened
    opened.close()
