"""`journeyctl init` end to end: the project it makes passes `validate`, `test` and `simulate`
through the very commands it prints, and `init .` works in a fresh `git init` folder."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from tests.support import run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process


def next_commands(stdout: str) -> list[list[str]]:
    """The commands init prints after `Next:`, split as a shell would."""
    tail = stdout.split("\nNext:\n", 1)[1]
    return [shlex.split(line) for line in tail.splitlines() if line.strip()]


def test_init_prints_commands_that_validate_test_and_simulate_the_new_project(
        tmp_path: Path) -> None:
    created = run_cli("init", "My Shop", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    for relative in ("snippets/footer.liquid", "tests/welcome.yaml", "data/events.jsonl",
                     "data/profiles.jsonl"):
        assert f"  {relative}\n" in created.stdout
    commands = next_commands(created.stdout)
    assert [c[1] for c in commands] == ["validate", "test", "simulate"]
    assert commands[2] == ["journeyctl", "simulate", "My Shop", "--events",
                           "My Shop/data/events.jsonl", "--profiles",
                           "My Shop/data/profiles.jsonl"]
    for command in commands:
        assert command[0] == "journeyctl"
        done = run_cli(*command[1:], cwd=tmp_path)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    strict = run_cli("validate", "My Shop", "--strict", cwd=tmp_path)  # the snippet is used
    assert strict.returncode == 0, strict.stdout
    assert "{% render 'footer' %}" in (tmp_path / "My Shop/templates/welcome_email.yaml"
                                       ).read_text(encoding="utf-8")
    tested = run_cli("test", "My Shop", cwd=tmp_path)
    assert "2 passed, 0 failed" in tested.stdout
    report = run_cli(*commands[2][1:], "--json", cwd=tmp_path)
    summary = json.loads(report.stdout)
    assert summary["messages"]["total"] >= 1


def test_init_dot_in_a_fresh_git_folder(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    created = run_cli("init", ".", cwd=folder)
    assert created.returncode == 0, created.stdout + created.stderr
    assert (folder / ".git" / "HEAD").read_text(encoding="utf-8") == "ref: refs/heads/main\n"
    assert (folder / "journeyctl.yaml").read_text(encoding="utf-8").splitlines()[1] == \
        "project: repo"
    assert not list(folder.glob(".journeyctl-init-*"))
    assert next_commands(created.stdout)[0] == ["journeyctl", "validate", "."]
    assert run_cli("validate", ".", cwd=folder).returncode == 0


def test_init_dot_in_an_empty_working_folder(tmp_path: Path) -> None:
    created = run_cli("init", ".", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    assert (tmp_path / "journeyctl.yaml").is_file()
    assert run_cli("test", ".", cwd=tmp_path).returncode == 0


def test_init_dot_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    refused = run_cli("init", ".", cwd=tmp_path)
    assert refused.returncode == 1
    assert ".:1:1: error[JC001]: . already exists and is not empty (it holds notes.txt)" \
        in refused.stderr
    assert "a folder holding only .git is fine" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "notes.txt"]


INTERRUPT_AT_THIRD_MOVE = '''\
import os, signal
from pathlib import Path

_rename, _calls = Path.rename, []


def rename(self, target):
    moved = _rename(self, target)
    _calls.append(target)
    if len(_calls) == 3:  # Ctrl-C while init moves the files into the folder
        os.kill(os.getpid(), signal.SIGINT)
    return moved


Path.rename = rename
'''


def test_ctrl_c_in_the_middle_of_init_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INTERRUPT_AT_THIRD_MOVE, encoding="utf-8")
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    stopped = run_cli("init", ".", cwd=folder, env={"PYTHONPATH": path})
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "journeyctl: interrupted" in stopped.stderr
    assert sorted(p.name for p in folder.iterdir()) == [".git"]  # nothing half-made
    created = run_cli("init", ".", cwd=folder)  # so init can run again
    assert created.returncode == 0, created.stdout + created.stderr
