"""Hints that are commands work when pasted: each test takes the command out of the hint the
real CLI printed and runs it through the shell, from the same folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from journeyctl.commands.rerun import PROJECT_OPTION, rerun_command
from tests.support import EXAMPLE, journeyctl_command, run_cli


def pasted(hint_line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `journeyctl ...` command at the end of a hint line through the shell."""
    match = re.search(r"(journeyctl (?:\S.*))$", hint_line)
    assert match, hint_line
    bin_dir = str(Path(journeyctl_command()[0]).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NO_COLOR": "1"}
    return subprocess.run(["bash", "-c", match.group(1)], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


def hint_of(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "= hint:" in line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose project is one folder down, in a folder with a space in its name."""
    root = tmp_path / "my repo"
    shutil.copytree(EXAMPLE, root / "journeys", ignore=shutil.ignore_patterns(".journeyctl"))
    (root / "README.md").write_text("a repository\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("args", [
    ["validate"],
    ["simulate", "--events", "journeys/data/events.jsonl", "--json"],
    ["graph", "onboarding"],
    ["test"],
    ["status"],
])
@pytest.mark.e2e
def test_from_the_repository_root_the_hint_runs_the_command_on_the_project(
        repo: Path, args: list[str]) -> None:
    result = run_cli(*args, cwd=repo)
    assert result.returncode == 1
    hint = hint_of(result.stderr)
    assert "the project is at journeys: journeyctl" in hint and "init" not in hint
    again = pasted(hint, repo)
    assert again.returncode in (0, 1) and "JC001" not in again.stderr, again.stderr
    if args[0] != "status":  # status on a project never applied says so (JC969), exit 1
        assert again.returncode == 0, again.stderr


@pytest.mark.e2e
def test_a_mistyped_project_folder_is_not_found_and_the_close_one_is_offered(repo: Path) -> None:
    result = run_cli("validate", "journeyz", cwd=repo)
    assert "journeyz: folder not found" in result.stderr
    hint = hint_of(result.stderr)
    assert "did you mean journeys? journeyctl validate journeys" in hint
    assert pasted(hint, repo).returncode == 0


@pytest.mark.e2e
def test_a_journey_file_given_as_the_project_points_at_its_project(repo: Path) -> None:
    result = run_cli("validate", "journeys/flows/onboarding.yaml", cwd=repo)
    assert "is a file, not a project folder" in result.stderr
    assert pasted(hint_of(result.stderr), repo).returncode == 0


@pytest.mark.e2e
def test_from_inside_the_project_the_hint_names_the_project_above(repo: Path) -> None:
    inside = repo / "journeys" / "flows"
    result = run_cli("graph", "onboarding", cwd=inside)
    hint = hint_of(result.stderr)
    assert "--project" in hint
    drawn = pasted(hint, inside)
    assert drawn.returncode == 0 and drawn.stdout.startswith("flowchart")


@pytest.mark.parametrize("holding", [[], [".git"]])
@pytest.mark.e2e
def test_where_there_is_nothing_init_is_hinted_and_works(tmp_path: Path,
                                                         holding: list[str]) -> None:
    for name in holding:
        (tmp_path / name).mkdir()
    result = run_cli("validate", cwd=tmp_path)
    hint = hint_of(result.stderr)
    assert hint.endswith("journeyctl init .")
    assert pasted(hint, tmp_path).returncode == 0
    assert run_cli("validate", cwd=tmp_path).returncode == 0


@pytest.mark.e2e
def test_beside_other_files_init_is_hinted_into_a_new_folder(repo: Path) -> None:
    (repo / "journeys").rename(repo / "old")
    (repo / "old" / "journeyctl.yaml").unlink()
    result = run_cli("validate", cwd=repo)
    hint = hint_of(result.stderr)
    assert hint.endswith("journeyctl init journeys")
    assert pasted(hint, repo).returncode == 0


@pytest.mark.e2e
def test_serve_with_nothing_applied_hints_an_apply_that_works(repo: Path) -> None:
    state = "sqlite:///state dir/s.db"
    (repo / "journeys" / "state dir").mkdir()
    result = run_cli("serve", "journeys", "--state", state, "--port", "0", cwd=repo)
    assert result.returncode == 1 and "JC980" in result.stderr
    hint = hint_of(result.stderr)
    assert "journeyctl apply journeys --state 'sqlite:///state dir/s.db'" in hint
    applied = pasted(hint + " --auto-approve", repo)
    assert applied.returncode == 0, applied.stderr
    assert (repo / "journeys" / "state dir" / "s.db").is_file()


@pytest.mark.e2e
def test_the_missing_events_file_names_the_close_one(repo: Path) -> None:
    result = run_cli("simulate", "journeys", "--events", "journeys/data/event.jsonl", cwd=repo)
    assert "journeys/data/event.jsonl: file not found" in result.stderr
    hint = hint_of(result.stderr)
    assert hint.endswith("did you mean journeys/data/events.jsonl? "
                         "journeyctl simulate journeys --events journeys/data/events.jsonl")
    assert pasted(hint, repo).returncode == 0


@pytest.mark.e2e
def test_the_missing_test_file_names_the_close_one(repo: Path) -> None:
    project = repo / "journeys"
    tests = sorted((project / "tests").glob("*.yaml"))
    assert tests, "the example has journey tests"
    typo = f"tests/{tests[0].stem[:-1]}.yaml"
    result = run_cli("test", "--file", typo, cwd=project)
    assert result.returncode == 1 and f"{typo}: file not found" in result.stderr
    hint = hint_of(result.stderr)
    assert hint.endswith(f"journeyctl test --file tests/{tests[0].name}")
    assert pasted(hint, project).returncode == 0


@pytest.mark.parametrize(("argv", "expected"), [
    (["validate"], "journeyctl validate 'my journeys'"),
    (["validate", "."], "journeyctl validate 'my journeys'"),
    (["validate", "--format", "json", "./"], "journeyctl validate --format json 'my journeys'"),
    (["simulate", "--events", "e.jsonl"], "journeyctl simulate 'my journeys' --events e.jsonl"),
    (["history", "onboarding"], "journeyctl history onboarding --project 'my journeys'"),
    (["history", "-p", ".", "x"], "journeyctl history --project 'my journeys' x"),
    (["graph", "x", "--project", "."], "journeyctl graph x --project 'my journeys'"),
])
def test_rerun_command_replaces_or_adds_the_project(argv: list[str], expected: str) -> None:
    assert rerun_command(Path("."), Path("my journeys"), argv) == expected


@pytest.mark.parametrize(("argv", "given", "expected"), [
    (["history", "templates/"], "templates", "journeyctl history 'my journeys'"),
    (["history", "journeys/flows", "-p", "x"], "journeys/flows",
     "journeyctl history 'my journeys'"),
    (["history", "-p", "x", "x"], "x", "journeyctl history --project 'my journeys' x"),
    (["graph", "x", "--project", "x"], "x", "journeyctl graph x --project 'my journeys'"),
])
def test_history_s_project_is_replaced_where_it_was_given(argv: list[str], given: str,
                                                          expected: str) -> None:
    assert rerun_command(Path(given), Path("my journeys"), argv) == expected


@pytest.fixture
def applied(repo: Path) -> Path:
    """The repository, its project applied (so that history has something to show)."""
    done = run_cli("apply", "journeys", "--auto-approve", cwd=repo)
    assert done.returncode == 0, done.stderr
    return repo


@pytest.mark.parametrize(("where", "argument"), [
    ("journeys", "templates/"), (".", "./journeys/templates"), (".", "journeys/flows")])
@pytest.mark.e2e
def test_history_of_a_folder_inside_the_project_hints_the_project_once(
        applied: Path, where: str, argument: str) -> None:
    """No circle: the hint names the project in place of the folder, not beside it."""
    cwd = applied / where
    result = run_cli("history", argument, cwd=cwd)
    assert result.returncode == 1 and "JC001" in result.stderr
    hint = hint_of(result.stderr)
    assert argument not in hint and "--project" not in hint
    again = pasted(hint, cwd)
    assert again.returncode == 0, again.stderr
    assert "onboarding" in again.stdout


@pytest.mark.parametrize("where", [".", "journeys/flows"])
@pytest.mark.e2e
def test_history_of_a_journey_outside_its_project_hints_it_with_the_project(
        applied: Path, where: str) -> None:
    cwd = applied / where
    result = run_cli("history", "onboarding", cwd=cwd)
    assert result.returncode == 1
    hint = hint_of(result.stderr)
    assert "journeyctl history onboarding --project " in hint
    again = pasted(hint, cwd)
    assert again.returncode == 0, again.stderr
    assert "history of onboarding" in again.stdout


@pytest.mark.e2e
def test_history_of_a_folder_that_is_no_project_says_what_it_is(applied: Path) -> None:
    result = run_cli("history", "flows", cwd=applied / "journeys")
    assert result.returncode == 1
    assert "error[JC930]: no journey 'flows' in project acme-shop, and the folder flows here " \
        "holds no journeyctl.yaml" in result.stderr
    assert "no folder flows" not in result.stderr


@pytest.fixture
def two_projects(tmp_path: Path) -> Path:
    """A folder holding two projects, `shop a` and `shop b`, and nothing else."""
    from journeyctl.scaffold import scaffold

    for name in ("shop a", "shop b"):
        scaffold(tmp_path / name, name.replace(" ", "-"))
    return tmp_path


@pytest.mark.parametrize(("folder", "typed", "meant"), [
    ("repo", "journeys/flows/onboardin.yaml", "journeys/flows/onboarding.yaml"),
    ("two_projects", "shop b/journeys/welcom.yaml", "shop b/journeys/welcome.yaml"),
])
@pytest.mark.e2e
def test_a_mistyped_journey_file_is_not_found_and_the_close_one_is_drawn(
        request: pytest.FixtureRequest, folder: str, typed: str, meant: str) -> None:
    cwd = request.getfixturevalue(folder)
    result = run_cli("graph", typed, cwd=cwd)
    assert result.returncode == 1
    assert f"error[JC001]: {typed}: file not found" in result.stderr
    assert "no journey" not in result.stderr and "invalid journey" not in result.stderr
    hint = hint_of(result.stderr)
    assert f"did you mean {meant}? journeyctl graph " in hint
    drawn = pasted(hint, cwd)
    assert drawn.returncode == 0 and drawn.stdout.startswith("flowchart"), drawn.stderr


@pytest.mark.e2e
def test_a_close_file_that_is_no_journey_is_not_offered(repo: Path) -> None:
    result = run_cli("graph", "journeys/templates/welcome.yaml", cwd=repo)
    assert "journeys/templates/welcome.yaml: file not found" in result.stderr
    assert "did you mean" not in result.stderr  # welcome_email.yaml is a template


@pytest.mark.parametrize("args", [["validate"], ["graph", "welcome"], ["test"]])
@pytest.mark.e2e
def test_with_several_projects_below_each_gets_its_own_command(two_projects: Path,
                                                               args: list[str]) -> None:
    result = run_cli(*args, cwd=two_projects)
    assert result.returncode == 1
    hint = hint_of(result.stderr)
    assert "projects below it: shop a, shop b — journeyctl " in hint
    offered = re.findall(r"(journeyctl .+?)(?:; or |$)", hint)
    assert len(offered) == 2 and "'shop a'" in offered[0] and "'shop b'" in offered[1]
    for command in offered:
        done = pasted(command, two_projects)
        assert done.returncode == 0, (command, done.stderr)


def test_the_commands_with_a_project_option_are_the_clis() -> None:
    import typer.main

    from journeyctl.cli import app

    group = typer.main.get_command(app)
    with_option = {name for name, command in group.commands.items()  # type: ignore[attr-defined]
                   if any(p.name == "project" and p.param_type_name == "option"
                          for p in command.params)}
    assert with_option == PROJECT_OPTION


def test_a_command_is_quoted_word_by_word() -> None:
    from journeyctl.hints import command, shell

    assert command("init", Path("my shop")) == "journeyctl init 'my shop'"
    assert shell("mkdir", "-p", "new plans") + " && " + command("plan", "--out", "p") == \
        "mkdir -p 'new plans' && journeyctl plan --out p"


def test_close_names_share_one_cutoff(tmp_path: Path) -> None:
    from journeyctl.hints import close_names, close_path

    assert close_names("journeyz", ["notes", "journeys"]) == ["journeys"]
    assert close_names("proj", ["project"]) == []  # too far to be a typo
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeyx").touch()
    (tmp_path / "journeyzz").touch()
    assert close_path(tmp_path / "journeyz", Path.is_dir) == tmp_path / "journeys"
    assert close_path(tmp_path / "journeyz", Path.is_file) == tmp_path / "journeyzz"
    assert close_path(tmp_path / "nowhere" / "journeyz", Path.is_dir) is None
