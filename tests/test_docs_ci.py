"""The CI examples stay true: the README's GitHub Actions workflow and docs/gitlab-ci.yml parse,
take the state from JOURNEYCTL_STATE (a secret), comment `plan --format markdown --events` on the
pull request, and apply a saved plan made on the main branch."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from journeyctl.cli import app
from tests.support import REPO

# the plan comment, with what the change does to the numbers of the project's sample events
PLAN_COMMENT = ["journeyctl", "plan", ".", "--format", "markdown", "--events", "data/events.jsonl",
                "--profiles", "data/profiles.jsonl"]
COMMANDS = {command.name or command.callback.__name__ for command in app.registered_commands}


def _workflow() -> dict[str, Any]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# \.github/workflows/journeys\.yml\n.*?)```", readme, re.S)
    assert block is not None
    return yaml.safe_load(block.group(1))


def _journeyctl_lines(scripts: list[str]) -> list[list[str]]:
    lines = [shlex.split(line.split("|")[0].split(">")[0]) for script in scripts
             for line in script.splitlines() if line.strip().startswith("journeyctl ")]
    for words in lines:
        assert words[1] in COMMANDS, words
    return lines


def test_the_readme_workflow_uses_the_postgresql_state_from_a_secret() -> None:
    workflow = _workflow()
    assert workflow["env"]["JOURNEYCTL_STATE"] == "${{ secrets.JOURNEYCTL_STATE }}"
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert "pull_request" in plan["if"] and "push" in apply["if"]
    plan_runs = [step["run"] for step in plan["steps"] if "run" in step]
    assert PLAN_COMMENT in _journeyctl_lines(plan_runs)
    assert any("gh pr comment" in run and "plan.md" in run for run in plan_runs)
    apply_runs = [step["run"] for step in apply["steps"] if "run" in step]
    lines = _journeyctl_lines(apply_runs)
    assert lines.index(["journeyctl", "plan", ".", "--out", "plan.json"]) < lines.index(
        ["journeyctl", "apply", "plan.json", "--lock-timeout", "5m"])
    assert "--state" not in str(workflow)  # the variable names the state, nothing else


def test_the_gitlab_pipeline_does_the_same() -> None:
    pipeline = yaml.safe_load((REPO / "docs/gitlab-ci.yml").read_text(encoding="utf-8"))
    text = (REPO / "docs/gitlab-ci.yml").read_text(encoding="utf-8")
    assert "JOURNEYCTL_STATE" in text and "--state" not in text
    check, apply = pipeline["check"], pipeline["apply"]
    assert check["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert PLAN_COMMENT in _journeyctl_lines(check["script"])
    assert any("merge_requests/$CI_MERGE_REQUEST_IID/notes" in line for line in check["script"])
    lines = _journeyctl_lines(apply["script"])
    assert lines.index(["journeyctl", "plan", ".", "--out", "plan.json"]) < lines.index(
        ["journeyctl", "apply", "plan.json", "--lock-timeout", "5m"])
    assert apply["resource_group"]
