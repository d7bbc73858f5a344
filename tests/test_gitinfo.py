"""The git facts a plan records: the commit, and whether the files read differ from it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from journeyctl.gitinfo import GitInfo, git_info

pytestmark = pytest.mark.e2e  # every test here starts a process

ENV = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
       "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com"}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=ENV)


def test_outside_a_repository_there_is_nothing_to_say(tmp_path: Path) -> None:
    assert git_info(tmp_path, [tmp_path / "a.yaml"]) == GitInfo()


def test_paths_with_wildcards_are_taken_literally(tmp_path: Path) -> None:
    root = tmp_path / "shop [1]*"
    (root / "journeys").mkdir(parents=True)
    journey = root / "journeys" / "a.yaml"
    journey.write_text("journey: a\n", encoding="utf-8")
    (root / "journeys" / "b.yaml").write_text("journey: b\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    (root / "shop 1x").mkdir()  # what `[1]*` would match as a glob
    (root / "shop 1x" / "a.yaml").write_text("other\n", encoding="utf-8")
    assert not git_info(root, [journey], [(root / "journeys", ".yaml")]).dirty
    (root / "journeys" / "b.yaml").unlink()
    assert git_info(root, [journey], [(root / "journeys", ".yaml")]).dirty
