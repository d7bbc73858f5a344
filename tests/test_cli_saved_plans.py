"""End-to-end: saved plans of any name applied without a question, old → new values in every
plan format, `history PROJECT_FOLDER`, who applied and from which files, and every hint that
the state commands print pasted into a shell as it is."""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from journeyctl.scaffold import scaffold
from journeyctl.state import SqliteStore
from tests.support import journeyctl_command

pytestmark = pytest.mark.e2e  # every test here starts a process

GIT_ENV = {"GIT_AUTHOR_NAME": "Min Kim", "GIT_AUTHOR_EMAIL": "min@example.com",
           "GIT_COMMITTER_NAME": "Min Kim", "GIT_COMMITTER_EMAIL": "min@example.com"}
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200",
       # a pasted `journeyctl` is the one under test, wherever the shell finds commands
       "PATH": f"{Path(journeyctl_command()[0]).parent}{os.pathsep}{os.environ['PATH']}"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command, with no terminal: stdin is not a tty (so apply cannot ask)."""
    return subprocess.run([*journeyctl_command(), *map(str, args)], cwd=cwd, env=ENV,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


def paste(line: str, cwd: Path) -> tuple[str, int]:
    """`line` pasted into a shell in a terminal at `cwd`, as a user would; `yes` typed if
    apply asks. What it printed, and its exit code."""
    import pty

    main, child = pty.openpty()
    process = subprocess.Popen(["bash", "-c", line], cwd=cwd, stdin=child, stdout=child,
                               stderr=child, env=ENV)
    os.close(child)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        output += chunk
        if output.endswith(b"Only 'yes' applies: "):
            os.write(main, b"yes\n")
    code = process.wait(timeout=120)
    os.close(main)
    return re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace")), code


def hint(stderr: str) -> str:
    found = re.findall(r"^  = hint: (.*)$", stderr, re.M)
    assert len(found) == 1, stderr
    return found[0]


def commands(text: str) -> list[str]:
    """The commands in a hint (a hint may offer two: `...: CMD; or ...: CMD`; a command in
    backquotes is the text between them)."""
    quoted = re.findall(r"`(journeyctl [^`]+)`", text)
    if quoted:
        return quoted
    found = re.findall(r"((?:mkdir -p .+? && )?journeyctl .+?)(?:; |$)", text)
    assert found, f"no command in: {text}"
    return found


def paste_hint(stderr: str, cwd: Path) -> str:
    """The hint's (first) command pasted: it must succeed. What it printed."""
    line = commands(hint(stderr))[0]
    out, code = paste(line, cwd)
    assert code == 0, (line, out)
    return out


def serial(state: Path) -> int:
    with sqlite3.connect(state) as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()[0])


def edit(root: Path, old: str, new: str, file: str = "journeys/welcome.yaml") -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working folder: a git repository holding the project `my shop/` (a space in its
    name, so that hints must quote it)."""
    scaffold(tmp_path / "my shop", "shop")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first journeys")
    return tmp_path


PROJECT = "my shop"


def state_of(work: Path) -> Path:
    return work / PROJECT / ".journeyctl" / "state.db"


# --- saved plans -----------------------------------------------------------------------------


def test_a_saved_plan_of_any_name_is_applied_without_a_question(work: Path) -> None:
    (work / "plans 1").mkdir()
    for number, name in enumerate(("myplan", "Plan.JSON", "plan.txt", "plans 1/next plan"),
                                  start=1):
        edit(work / PROJECT, "name: Welcome", f"name: Welcome {number}")
        saved = run("plan", PROJECT, "--out", name, cwd=work)
        assert saved.returncode == 0, saved.stderr
        line = saved.stdout.strip().splitlines()[-1]
        assert line.startswith(f"Saved the plan to {name}: journeyctl apply "), line
        if number % 2:  # apply as the hint says, pasted into a shell...
            out, code = paste(line.split(": ", 1)[1], work)
            assert code == 0, out
            assert "Apply these changes" not in out, out
        else:  # ...or with no terminal at all, and no --auto-approve
            applied = run("apply", name, cwd=work)
            assert applied.returncode == 0, applied.stderr
            out = applied.stdout
        assert f"is now at serial {number}" in out
        assert serial(state_of(work)) == number
    # a folder is a project whatever its name; so is the path of its journeyctl.yaml
    (work / PROJECT).rename(work / "shop.json")
    edit(work / "shop.json", "name: Welcome", "name: Hello")
    for target in ("shop.json", "shop.json/journeyctl.yaml"):
        applied = run("apply", target, "--auto-approve", cwd=work)
        assert applied.returncode == 0, applied.stderr
    assert serial(work / "shop.json" / ".journeyctl" / "state.db") == 5


def test_a_mistyped_plan_or_folder_is_not_found(work: Path) -> None:
    edit(work / PROJECT, "name: Welcome", "name: Hello")
    assert run("plan", PROJECT, "--out", "myplan", cwd=work).returncode == 0
    typo = run("apply", "myplann", cwd=work)
    assert typo.returncode == 1
    assert "myplann: error[JC001]: myplann not found: there is no plan file or project " \
           "folder of that name" in typo.stderr
    assert hint(typo.stderr) == "did you mean myplan? journeyctl apply myplan"
    assert "is now at serial 1" in paste_hint(typo.stderr, work)
    unknown = run("apply", "nothing/like/it", cwd=work)
    assert unknown.returncode == 1 and "error[JC001]" in unknown.stderr
    assert "not found" in unknown.stderr and "journeyctl init" not in unknown.stderr
    # a file that is no plan (a journey file): the hint applies the project it is in
    edit(work / PROJECT, "name: Hello", "name: Hello again")
    journey = run("apply", f"{PROJECT}/journeys/welcome.yaml", cwd=work)
    assert journey.returncode == 1 and "error[JC964]" in journey.stderr
    assert "is not a plan file" in journey.stderr
    assert "is now at serial 2" in paste_hint(journey.stderr, work)


def test_plan_out_into_a_missing_folder_or_a_folder(work: Path) -> None:
    missing = run("plan", PROJECT, "--out", "new plans/p", cwd=work)
    assert missing.returncode == 1
    assert "--out: error[JC964]: cannot save the plan to new plans/p: the folder new plans " \
           "was not found" in missing.stderr
    assert hint(missing.stderr) == ("create the folder first: mkdir -p 'new plans' && "
                                    "journeyctl plan 'my shop' --out 'new plans/p'")
    paste_hint(missing.stderr, work)
    assert json.loads((work / "new plans" / "p").read_text())["schema_version"] == 2
    folder = run("plan", PROJECT, "--out", "new plans", cwd=work)
    assert folder.returncode == 1 and "--out: error[JC964]: new plans is a folder" in folder.stderr
    paste_hint(folder.stderr, work)
    assert (work / "new plans" / "plan.json").is_file()


def test_plan_out_never_replaces_a_file_that_is_no_plan(work: Path) -> None:
    """As in Terraform, a saved plan replaces only an earlier plan: never the project's
    settings (which `apply journeyctl.yaml` would then read as a project), nor any other file."""
    project = work / PROJECT
    edit(project, "name: Welcome", "name: Hello")
    settings = (project / "journeyctl.yaml").read_bytes()
    refused = run("plan", "--out", "journeyctl.yaml", cwd=project)
    assert refused.returncode == 1 and refused.stdout == ""  # refused before planning
    assert "--out: error[JC964]: cannot save the plan to journeyctl.yaml: `apply` reads a " \
           "journeyctl.yaml as a project" in refused.stderr
    assert (project / "journeyctl.yaml").read_bytes() == settings
    assert hint(refused.stderr) == "choose another name: journeyctl plan --out plan.json"
    assert "journeyctl apply plan.json" in paste_hint(refused.stderr, project)
    assert run("plan", "--out", "plan.json", cwd=project).returncode == 0  # an earlier plan

    (work / "notes.txt").write_text("mine\n", encoding="utf-8")
    (work / "plan.json").write_text("{}", encoding="utf-8")  # no plan either
    for other in ("notes.txt", f"{PROJECT}/journeys/welcome.yaml"):
        kept = (work / other).read_bytes()
        refused = run("plan", PROJECT, "--out", other, cwd=work)
        assert refused.returncode == 1, refused.stderr
        assert f"cannot save the plan to {other}: the file exists and is not a journeyctl " \
               "plan" in refused.stderr
        assert (work / other).read_bytes() == kept
    assert commands(hint(refused.stderr)) == [
        f"journeyctl plan '{PROJECT}' --out '{PROJECT}/journeys/plan.json'"]
    refused = run("plan", PROJECT, "--out", "notes.txt", cwd=work)
    assert commands(hint(refused.stderr)) == [f"journeyctl plan '{PROJECT}' --out plan-2.json"]
    paste_hint(refused.stderr, work)
    assert run("apply", "plan-2.json", cwd=work).returncode == 0


def bump(root: Path) -> None:
    """A change to the project: the welcome goal's window a day shorter."""
    path = root / "journeys" / "welcome.yaml"
    days = int(re.search(r"within: (\d+)d", path.read_text()).group(1))  # type: ignore[union-attr]
    edit(root, f"within: {days}d", f"within: {days - 1}d")


def test_a_stale_saved_plan_is_refused_and_the_hint_makes_it_again(work: Path) -> None:
    for state, url in ((state_of(work), []), (work / PROJECT / "alt.db", ["--state",
                                                                            "sqlite:///alt.db"])):
        assert run("apply", PROJECT, *url, "--auto-approve", cwd=work).returncode == 0
        bump(work / PROJECT)
        assert run("plan", PROJECT, *url, "--out", "stale plan", cwd=work).returncode == 0
        assert run("apply", PROJECT, *url, "--auto-approve", cwd=work).returncode == 0
        bump(work / PROJECT)
        refused = run("apply", "stale plan", cwd=work)
        assert refused.returncode == 1 and "error[JC966]: the plan is stale" in refused.stderr
        assert "Plan for" not in refused.stdout
        paste_hint(refused.stderr, work)  # `plan --out 'stale plan'` against the same state
        applied = run("apply", "stale plan", cwd=work)
        assert applied.returncode == 0 and "is now at serial 3" in applied.stdout
        assert serial(state) == 3


def test_a_plan_for_another_state_offers_both_ways(work: Path) -> None:
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    edit(work / PROJECT, "name: Welcome", "name: Hello")
    assert run("plan", PROJECT, "--out", "p.json", cwd=work).returncode == 0
    refused = run("apply", "p.json", "--state", "sqlite:///other.db", cwd=work)
    assert refused.returncode == 1 and "p.json: error[JC965]" in refused.stderr
    to_its_state, new_plan = commands(hint(refused.stderr))
    assert to_its_state == "journeyctl apply p.json"
    assert new_plan == "journeyctl plan 'my shop' --state sqlite:///other.db --out p.json"
    assert paste(to_its_state, work)[1] == 0 and serial(state_of(work)) == 2
    out, code = paste(new_plan, work)
    assert code == 0 and "a new state" in out, out


def test_an_edited_plan_file_is_refused_and_the_hint_makes_it_again(work: Path) -> None:
    edit(work / PROJECT, "name: Welcome", "name: Hello")
    assert run("plan", PROJECT, "--out", "p", cwd=work).returncode == 0
    saved = work / "p"
    saved.write_text(saved.read_text().replace("Hello", "Hi"))
    refused = run("apply", "p", cwd=work)
    assert refused.returncode == 1 and "checksum does not match" in refused.stderr
    assert hint(refused.stderr) == "make a new plan: journeyctl plan 'my shop' --out p"
    paste_hint(refused.stderr, work)
    assert run("apply", "p", cwd=work).returncode == 0


# --- old → new values --------------------------------------------------------------------------


def test_the_plan_shows_old_and_new_values_in_text_json_and_markdown(work: Path) -> None:
    project = work / PROJECT
    edit(project, "    next: exit\n", "    next: exit\n  - id: pause\n    wait: 6h\n")
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    edit(project, "wait: 6h", "wait: 4h")
    edit(project, "template: nudge_email", "template: welcome_email")
    edit(project, "event: signup\n", "event: signup\n  where: event.plan == 'pro'\n")
    edit(project, "within: 14d", "within: 7d")
    edit(project, "timezone: UTC", "timezone: Asia/Seoul", "journeyctl.yaml")

    text = run("plan", PROJECT, cwd=work).stdout
    assert ("      ~ step pause\n          wait: 6h → 4h\n"
            "      ~ step send_nudge\n          send.template: nudge_email → welcome_email\n"
            ) in text
    assert "      ~ goal.within: 14d → 7d\n" in text
    assert "      ~ trigger.where: (none) → event.plan == 'pro'\n" in text
    assert "~ project settings (v2)\n      ~ project.timezone: UTC → Asia/Seoul\n" in text

    plan = json.loads(run("plan", PROJECT, "--format", "json", cwd=work).stdout)
    diff = plan["changes"][0]["diff"]
    assert diff["steps"]["changed"] == [
        {"step": "pause", "fields": [{"path": "wait", "old": "6h", "new": "4h"}]},
        {"step": "send_nudge", "fields": [{"path": "send.template", "old": "nudge_email",
                                           "new": "welcome_email"}]}]
    assert diff["journey"] == [{"path": "goal.within", "old": "14d", "new": "7d"},
                               {"path": "trigger.where", "new": "event.plan == 'pro'"}]
    assert plan["settings"]["changed"] == [{"path": "project.timezone", "old": "UTC",
                                            "new": "Asia/Seoul"}]

    markdown = run("plan", PROJECT, "--format", "markdown", cwd=work).stdout
    assert "!       ~ step pause\n!           wait: 6h → 4h\n" in markdown
    assert "!           send.template: nudge_email → welcome_email\n" in markdown
    assert "!       ~ goal.within: 14d → 7d\n" in markdown
    assert "!       ~ project.timezone: UTC → Asia/Seoul\n" in markdown


def test_changed_templates_and_snippets_show_their_old_and_new_values(work: Path) -> None:
    project = work / PROJECT
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    edit(project, "Welcome, {{", "Hello, {{", "templates/welcome_email.yaml")
    edit(project, "because you signed up.", "because you joined.", "snippets/footer.liquid")

    text = run("plan", PROJECT, cwd=work).stdout
    assert "      ~ template welcome_email\n          subject: 'Welcome, {{ profile.name | " \
           "default: ''there'' }}… → 'Hello, {{ profile.name | default: ''there'' }}!'\n" in text
    assert '      ~ snippet footer\n          source: …}} because you signed up.\\n" → …}} ' \
           'because you joined.\\n"\n' in text

    plan = json.loads(run("plan", PROJECT, "--format", "json", cwd=work).stdout)
    diff = plan["changes"][0]["diff"]
    assert diff["templates"]["changed"] == ["welcome_email"]
    assert diff["templates"]["fields"] == {"welcome_email": [{
        "path": "subject", "old": "Welcome, {{ profile.name | default: 'there' }}!",
        "new": "Hello, {{ profile.name | default: 'there' }}!"}]}
    [source] = diff["snippets"]["fields"]["footer"]
    assert source["path"] == "source" and source["old"].endswith("because you signed up.\n")
    assert source["new"] == (project / "snippets" / "footer.liquid").read_text()

    markdown = run("plan", PROJECT, "--format", "markdown", cwd=work).stdout
    assert "!       ~ template welcome_email\n!           subject: 'Welcome, " in markdown
    assert "!       ~ snippet footer\n!           source: …}} because you signed up." in markdown

    # a plan saved before the fields were recorded: still applied, its changes shown by name
    from journeyctl.plan import seal

    assert run("plan", PROJECT, "--out", "p", cwd=work).returncode == 0
    saved = json.loads((work / "p").read_text())
    for named in (saved["changes"][0]["diff"]["templates"],
                  saved["changes"][0]["diff"]["snippets"]):
        del named["fields"]
    saved.pop("checksum")
    (work / "p").write_text(json.dumps(seal(saved)))
    applied = run("apply", "p", cwd=work)
    assert applied.returncode == 0, applied.stderr
    assert "      ~ template welcome_email\n      ~ snippet footer\n" in applied.stdout


def test_a_plan_file_of_format_1_is_still_applied_and_a_newer_one_refused(work: Path) -> None:
    """Format 1 named the changed fields without values: such a plan, still valid, applies."""
    from journeyctl.plan import seal

    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    edit(work / PROJECT, "timeout: 3d", "timeout: 2d")
    assert run("plan", PROJECT, "--out", "p", cwd=work).returncode == 0
    plan = json.loads((work / "p").read_text())
    plan.pop("checksum")
    plan["schema_version"] = 1
    plan["state"].pop("url")
    for change in plan["changes"]:
        for step in change.get("diff", {}).get("steps", {}).get("changed", []):
            step["fields"] = [field["path"] for field in step["fields"]]
    (work / "old").write_text(json.dumps(seal(plan)))
    plan["schema_version"] = 3
    (work / "newer").write_text(json.dumps(seal(plan)))

    newer = run("apply", "newer", cwd=work)
    assert newer.returncode == 1
    assert "plan format 3 is newer than this journeyctl reads (1 to 2)" in newer.stderr
    old = run("apply", "old", cwd=work)
    assert old.returncode == 0, old.stderr
    assert "      ~ step wait_for_purchase\n          wait_for.timeout\n" in old.stdout
    assert serial(state_of(work)) == 2


# --- history -------------------------------------------------------------------------------


def test_history_of_a_project_folder_a_journey_and_a_typo(work: Path) -> None:
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    for target in (f"{PROJECT}/", f"{PROJECT}/journeyctl.yaml"):
        listed = run("history", target, "--format", "json", cwd=work)
        assert listed.returncode == 0, listed.stderr
        assert [v["journey"] for v in json.loads(listed.stdout)["versions"]] == ["welcome"]
    assert run("history", "welcome", "-p", PROJECT, cwd=work).returncode == 0
    assert run("history", "welcome", cwd=work / PROJECT).returncode == 0

    typo = run("history", "typo/", cwd=work)
    assert typo.returncode == 1
    assert "typo/: error[JC001]: typo/ not found: there is no project folder of that name" \
        in typo.stderr
    folder_typo = run("history", "my shp", cwd=work)
    assert hint(folder_typo.stderr) == "did you mean my shop? journeyctl history 'my shop'"
    paste_hint(folder_typo.stderr, work)

    unknown = run("history", "welcom", "-p", PROJECT, cwd=work)
    assert unknown.returncode == 1
    assert "error[JC930]: no journey 'welcom' in project shop" in unknown.stderr
    assert hint(unknown.stderr) == ("did you mean welcome? journeyctl history welcome --project "
                                    "'my shop'; journeys: welcome")
    assert "welcome" in paste_hint(unknown.stderr, work)

    journeys = work / PROJECT / "journeys"
    (journeys / "later.yaml").write_text((journeys / "welcome.yaml").read_text().replace(
        "journey: welcome", "journey: later"))
    never = run("history", "later", "-p", PROJECT, cwd=work)
    assert never.returncode == 1 and "error[JC969]: journey 'later' was never applied" in \
        never.stderr
    assert hint(never.stderr) == "apply the project: journeyctl apply 'my shop'"
    paste_hint(never.stderr, work)
    assert run("history", "later", "-p", PROJECT, cwd=work).returncode == 0

    twice = run("history", PROJECT, "-p", "elsewhere", cwd=work)
    assert twice.returncode == 1 and "--project: error[JC990]: two projects given" in \
        twice.stderr
    paste_hint(twice.stderr, work)


def test_history_shows_who_applied_and_uncommitted_files(work: Path) -> None:
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    head = git(work, "rev-parse", "HEAD")
    edit(work / PROJECT, "name: Welcome", "name: Hello")  # not committed
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0

    versions = json.loads(run("history", "-p", PROJECT, "--format", "json", cwd=work).stdout)[
        "versions"]
    me = getpass.getuser()
    assert [(v["version"], v["user"], v["commit"], v["dirty"]) for v in versions] == [
        (1, me, head, False), (2, me, head, True)]
    rows = {line.split("│")[2].strip(): line for line in
            run("history", "-p", PROJECT, cwd=work).stdout.splitlines() if "welcome" in line}
    assert f"│ {me} " in rows["1"] and f"{head[:10]} " in rows["1"]
    assert "uncommitted" not in rows["1"]
    assert f"│ {me} " in rows["2"] and f"{head[:10]} + uncommitted" in rows["2"]


def applied_dirty(work: Path) -> bool:
    """Apply the project (after a change, so that there is something to apply); whether the
    new version is recorded as made from uncommitted files."""
    bump(work / PROJECT)
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    versions = json.loads(run("history", "--project", PROJECT, "--format", "json",
                              cwd=work).stdout)["versions"]
    return bool(versions[-1]["dirty"])


def test_uncommitted_means_a_file_the_project_reads(work: Path) -> None:
    project = work / PROJECT
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    # files the project does not read: a saved plan, notes, a state; a test file deleted
    (project / "notes.md").write_text("mine\n", encoding="utf-8")
    assert run("plan", PROJECT, "--out", f"{PROJECT}/plan.json", cwd=work).returncode == 0
    (project / "tests" / "welcome.yaml").unlink()
    bump(project)
    git(work, "commit", "-qm", "shorter", "--", f"{PROJECT}/journeys/welcome.yaml")
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    rows = run("history", "--project", PROJECT, cwd=work).stdout
    assert "uncommitted" not in rows
    # a journey changed, staged, new (untracked) or deleted; a snippet changed
    assert applied_dirty(work)
    git(work, "add", "-A")
    assert applied_dirty(work)
    git(work, "commit", "-qm", "all")
    journeys = project / "journeys"
    (journeys / "later.yaml").write_text((journeys / "welcome.yaml").read_text().replace(
        "journey: welcome", "journey: later"))
    assert applied_dirty(work)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "later")
    (journeys / "later.yaml").unlink()
    assert applied_dirty(work)
    git(work, "commit", "-qam", "no later")
    edit(project, "because you signed up", "because you joined", "snippets/footer.liquid")
    assert applied_dirty(work)


def test_in_a_repository_with_no_commit_everything_is_uncommitted(tmp_path: Path) -> None:
    scaffold(tmp_path / PROJECT, "shop")
    git(tmp_path, "init", "-q", "-b", "main")
    assert run("apply", PROJECT, "--auto-approve", cwd=tmp_path).returncode == 0
    [version] = json.loads(run("history", "--project", PROJECT, "--format", "json",
                               cwd=tmp_path).stdout)["versions"]
    assert (version["commit"], version["dirty"]) == (None, True)
    row = next(line for line in run("history", "--project", PROJECT, cwd=tmp_path
                                    ).stdout.splitlines() if "welcome" in line)
    assert "│ uncommitted " in row


# --- the hints of the state commands, pasted ---------------------------------------------------


def test_confirmation_hints_apply_and_roll_back_when_pasted(work: Path) -> None:
    asked = run("apply", PROJECT, cwd=work)
    assert asked.returncode == 1 and "error[JC968]" in asked.stderr
    assert commands(hint(asked.stderr)) == ["journeyctl apply 'my shop' --auto-approve"]
    assert "is now at serial 1" in paste_hint(asked.stderr, work)
    edit(work / PROJECT, "name: Welcome", "name: Hello")
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0

    back = run("rollback", "welcome", "--to", "1", "-p", PROJECT, cwd=work)
    assert back.returncode == 1 and "error[JC968]" in back.stderr
    assert "is now at serial 3" in paste_hint(back.stderr, work)
    no_version = run("rollback", "welcome", "--to", "9", "-p", PROJECT, cwd=work)
    assert no_version.returncode == 1 and "error[JC969]" in no_version.stderr
    assert "rollback" in paste_hint(no_version.stderr, work)  # the history, versions listed
    no_journey = run("rollback", "gone", "--to", "1", "-p", PROJECT, cwd=work)
    assert commands(hint(no_journey.stderr)) == ["journeyctl history --project 'my shop'"]


def test_no_state_yet_hint_creates_it_when_pasted(work: Path) -> None:
    for command in (("status", PROJECT), ("history", PROJECT), ("force-unlock", "x", "-p",
                                                                   PROJECT)):
        none = run(*command, cwd=work)
        assert none.returncode == 1 and "error[JC969]: there is no state at" in none.stderr
        assert commands(hint(none.stderr)) == ["journeyctl apply 'my shop'"]
    assert "is now at serial 1" in paste_hint(none.stderr, work)
    with_state = run("status", PROJECT, "--state", "sqlite:///elsewhere.db", cwd=work)
    assert commands(hint(with_state.stderr)) == [
        "journeyctl apply 'my shop' --state sqlite:///elsewhere.db"]
    paste_hint(with_state.stderr, work)
    assert (work / PROJECT / "elsewhere.db").is_file()


def test_lock_hints_unlock_the_right_state_when_pasted(work: Path) -> None:
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0
    edit(work / PROJECT, "name: Welcome", "name: Hello")
    store = SqliteStore(state_of(work))
    try:
        lock = store.lock("apply", timeout=1)
        held = run("apply", PROJECT, "--auto-approve", "--lock-timeout", "0s", cwd=work)
        assert held.returncode == 1 and "error[JC962]" in held.stderr
        assert commands(hint(held.stderr)) == [
            f"journeyctl force-unlock {lock.lock_id} --project 'my shop'"]
        assert "Unlocked" in paste_hint(held.stderr, work)

        # a lock left by a process of this host that is gone (a killed apply): JC963
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        with sqlite3.connect(state_of(work)) as db:
            db.execute("INSERT INTO lock VALUES (1, 'dead1234', 'apply', 'x@y', ?, ?, 'now')",
                       [int(gone.stdout), socket.gethostname()])
        dead = run("apply", PROJECT, "--auto-approve", cwd=work)
        assert dead.returncode == 1 and "error[JC963]" in dead.stderr
        assert "Unlocked" in paste_hint(dead.stderr, work)

        lock = store.lock("apply", timeout=1)
        wrong = run("force-unlock", "nope", "-p", PROJECT, cwd=work)
        assert wrong.returncode == 1 and "error[JC962]: no lock with id nope" in wrong.stderr
        assert commands(hint(wrong.stderr)) == [
            f"journeyctl force-unlock {lock.lock_id} --project 'my shop'"]
        assert "Unlocked" in paste_hint(wrong.stderr, work)
    finally:
        store.close()
    assert run("apply", PROJECT, "--auto-approve", cwd=work).returncode == 0


def test_a_project_folder_that_does_not_exist_hint_creates_it_when_pasted(work: Path) -> None:
    for command in (("plan", "fresh start"), ("status", "fresh start"),
                    ("history", "-p", "fresh start")):
        missing = run(*command, cwd=work)
        assert missing.returncode == 1 and "error[JC001]: fresh start: folder not found" in \
            missing.stderr
        assert commands(hint(missing.stderr)) == ["journeyctl init 'fresh start'"]
    paste_hint(missing.stderr, work)
    assert (work / "fresh start" / "journeyctl.yaml").is_file()
