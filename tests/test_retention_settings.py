"""`retention:` in journeyctl.yaml (issue 11, item 10): how long the daemon keeps processed
events and finished messages. Defaults when absent; shorter than a minute is a located error."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl import model as m
from journeyctl.project import load_project


def with_retention(root: Path, text: str) -> None:
    with (root / "journeyctl.yaml").open("a", encoding="utf-8") as settings:
        settings.write(text)


def test_defaults_and_a_setting_reach_the_model(new_project: Path) -> None:
    project = load_project(new_project).project
    assert project is not None
    assert (project.retention.events.seconds, project.retention.messages.seconds) == (
        7 * 86400, 30 * 86400)
    with_retention(new_project, "retention: {events: 2d}\n")
    project = load_project(new_project).project
    assert project is not None
    assert project.retention.events == m.Duration(2 * 86400, "2d")
    assert project.retention.messages.text == "30d"  # the one not given keeps its default


@pytest.mark.e2e
def test_a_retention_shorter_than_a_minute_is_a_located_error(new_project: Path, cli) -> None:
    line = len((new_project / "journeyctl.yaml").read_text(encoding="utf-8").splitlines()) + 3
    with_retention(new_project, "retention:\n  events: 1h\n  messages: 30s\n")
    done = cli("validate", new_project)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert f"journeyctl.yaml:{line}:13: error[JC307]: retention.messages: 30s is shorter than " \
        "the 1m the daemon needs" in out, out
    assert "hint: write 1m or more (the default is 30d)" in out
    assert "retention.events" not in out


@pytest.mark.e2e
def test_a_retention_that_is_not_a_duration_is_refused(new_project: Path, cli) -> None:
    with_retention(new_project, "retention: {events: a week}\n")
    done = cli("validate", new_project)
    assert done.returncode == 1
    assert "error[JC301]" in done.stdout + done.stderr
