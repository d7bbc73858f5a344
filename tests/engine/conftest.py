"""Fixtures for the engine's conformance scenarios (helpers: tests.support.scenarios)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scenarios import Runner, scenario_runner


@pytest.fixture
def scenario(tmp_path: Path) -> Runner:
    """scenario(journeys, events=[(time, user, name, props)], profiles=..., until=...)."""
    return scenario_runner(tmp_path)
