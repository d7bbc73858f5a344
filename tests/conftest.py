"""Shared fixtures: fresh projects on disk and a runner for the real `journeyctl` command.
Helpers live in tests.support."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from journeyctl.scaffold import scaffold
from tests.support import run_cli


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def new_project(tmp_path: Path) -> Path:
    """A freshly scaffolded, valid project."""
    root = tmp_path / "proj"
    scaffold(root, "proj")
    return root
