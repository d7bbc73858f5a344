"""End-to-end: plan / apply / history / rollback / status on real git repositories and real
SQLite files, through the real command."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from journeyctl.scaffold import scaffold
from journeyctl.state import SqliteStore
from tests.support import REPO, journeyctl_command, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

GIT_ENV = {"GIT_AUTHOR_NAME": "Min Kim", "GIT_AUTHOR_EMAIL": "min@example.com",
           "GIT_COMMITTER_NAME": "Min Kim", "GIT_COMMITTER_EMAIL": "min@example.com"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    scaffold(root, "shop")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first journeys")
    return root


def edit(root: Path, old: str, new: str, file: str = "journeys/welcome.yaml") -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    git(root, "commit", "-qam", f"edit {file}")


def state_db(root: Path) -> Path:
    return root / ".journeyctl" / "state.db"


def rows(root: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(state_db(root)) as db:
        return db.execute(sql).fetchall()


ADD_STEP = ("  - id: send_nudge\n    send: {channel: email, template: nudge_email}\n",
            "  - id: send_nudge\n    send: {channel: email, template: nudge_email}\n"
            "  - id: pause\n    wait: 1d\n")


def test_plan_apply_edit_plan_history_rollback(repo: Path, tmp_path: Path) -> None:
    first = run_cli("plan", repo, "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "+ create journey welcome (v1)" in first.stdout
    assert "+ project settings (v1)" in first.stdout
    assert "Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged." in first.stdout

    applied = run_cli("apply", repo, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "is now at serial 1" in applied.stdout
    again = run_cli("plan", repo, "--detailed-exitcode")
    assert again.returncode == 0 and "No changes" in again.stdout

    edit(repo, "timeout: 3d", "timeout: 2d")
    edit(repo, *ADD_STEP)
    edit(repo, "your account is ready", "your ACME account is ready",
         "templates/nudge_email.yaml")
    diff = run_cli("plan", repo, "--detailed-exitcode")
    assert diff.returncode == 2
    assert "~ update journey welcome (v1 → v2)" in diff.stdout
    assert "+ step pause" in diff.stdout
    assert "~ step wait_for_purchase\n          wait_for.timeout: 3d → 2d\n" in diff.stdout
    assert "~ template nudge_email" in diff.stdout

    saved = tmp_path / "plan.json"
    assert run_cli("plan", repo, "--out", saved).returncode == 0
    from_file = run_cli("apply", saved, "--auto-approve")
    assert from_file.returncode == 0, from_file.stderr
    assert "serial 2" in from_file.stdout

    edit(repo, "name: Welcome new users", "name: Welcome!")
    stale = tmp_path / "stale.json"
    assert run_cli("plan", repo, "--out", stale).returncode == 0
    assert run_cli("apply", repo, "--auto-approve").returncode == 0  # serial 3
    refused = run_cli("apply", stale, "--auto-approve")
    assert refused.returncode == 1
    assert "error[JC966]: the plan is stale: it was made at state serial 2, the state is now " \
           "at 3" in refused.stderr
    assert rows(repo, "SELECT value FROM meta WHERE key = 'serial'") == [("3",)]

    history = run_cli("history", "welcome", "-p", repo, "--format", "json")
    versions = json.loads(history.stdout)["versions"]
    assert [(v["version"], v["action"]) for v in versions] == [(1, "create"), (2, "update"),
                                                               (3, "update")]
    head = git(repo, "rev-parse", "HEAD")
    assert versions[-1]["commit"] == head and versions[-1]["author"] == "Min Kim <min@example.com>"
    text = run_cli("history", "-p", repo)
    assert "welcome" in text.stdout and head[:10] in text.stdout

    back = run_cli("rollback", "welcome", "--to", "1", "-p", repo, "--auto-approve")
    assert back.returncode == 0, back.stderr
    assert "~ update journey welcome (v3 → v4)" in back.stdout and "- step pause" in back.stdout
    assert "revert them in git" in back.stderr
    hashes = dict(rows(repo, "SELECT version, hash FROM journey_versions"))
    assert hashes[4] == hashes[1] != hashes[3]
    assert rows(repo, "SELECT action FROM journey_versions WHERE version = 4") == [("rollback",)]
    # the files still say v3: the next plan undoes the rollback
    assert "~ update journey welcome (v4 → v5)" in run_cli("plan", repo).stdout


def test_markdown_and_json_plans(repo: Path) -> None:
    markdown = run_cli("plan", repo, "--format", "markdown")
    assert markdown.stdout.startswith("### journeyctl plan: `shop`")
    assert "```diff\n+ + create journey welcome (v1)" in markdown.stdout
    plan = json.loads(run_cli("plan", repo, "--format", "json").stdout)
    assert plan["schema_version"] == 2 and plan["summary"]["create"] == 1
    assert plan["checksum"].startswith("sha256:")
    assert plan["changes"][0]["content"]["templates"].keys() == {"nudge_email",
                                                                 "welcome_email"}


def test_in_flight_instances_in_the_plan_and_migrate(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    store = SqliteStore(state_db(repo))
    for user in ("u1", "u2", "u3"):
        store.seed_instance(user, "welcome", 1, 1, "wait_for_purchase", time.time())
    for user in ("u4", "u5"):
        store.seed_instance(user, "welcome", 1, 1, "send_nudge", time.time())
    store.seed_instance("u6", "welcome", 1, 1, "send_nudge", time.time(),
                        status="completed")
    store.close()
    # remove send_nudge (2 users there, no mapping), change wait_for_purchase and map it
    edit(repo, "on_timeout: send_nudge}", "on_timeout: exit}")
    edit(repo, "  - id: send_nudge\n    send: {channel: email, template: nudge_email}\n", "")
    plan = run_cli("plan", repo)
    assert "- step send_nudge" in plan.stdout
    assert "! 2 in flight at send_nudge (v1): the step is removed; they finish on v1" in plan.stdout
    assert "· 3 in flight at wait_for_purchase (v1): they finish on v1" in plan.stdout
    edit(repo, "exit_on:", "migrate: {wait_for_purchase: wait_for_purchase}\nexit_on:")
    moved = run_cli("plan", repo)
    assert "→ 3 in flight at wait_for_purchase (v1): move to v2 at wait_for_purchase (migrate)" \
        in moved.stdout
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    assert sorted(rows(repo, "SELECT user_id, version, step FROM instances "
                             "WHERE status = 'active'")) == [
        ("u1", 2, "wait_for_purchase"), ("u2", 2, "wait_for_purchase"),
        ("u3", 2, "wait_for_purchase"), ("u4", 1, "send_nudge"), ("u5", 1, "send_nudge")]
    status = json.loads(run_cli("status", repo, "--format", "json").stdout)
    assert status["journeys"]["welcome"]["in_flight"] == {
        "v1": {"send_nudge": 2}, "v2": {"wait_for_purchase": 3}}


def test_deleting_a_journey(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    (repo / "journeys/second.yaml").write_text(
        "journey: second\ntrigger: {event: signup}\nsteps:\n"
        "  - {id: hello, send: {channel: email, template: welcome_email, "
        "category: transactional}}\n")
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    (repo / "journeys/second.yaml").unlink()
    plan = run_cli("plan", repo, "--detailed-exitcode")
    assert plan.returncode == 2 and "- delete journey second (v1)" in plan.stdout
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    assert rows(repo, "SELECT version, status FROM journey_versions WHERE journey = 'second'") \
        == [(1, "active"), (2, "deleted")]
    assert run_cli("plan", repo, "--detailed-exitcode").returncode == 0


def test_apply_of_an_invalid_project_changes_nothing(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    edit(repo, "next: exit", "next: nowhere")
    broken = run_cli("apply", repo, "--auto-approve")
    assert broken.returncode == 1 and "JC203" in broken.stderr
    assert "nothing was planned or applied" in broken.stderr
    assert rows(repo, "SELECT value FROM meta WHERE key = 'serial'") == [("1",)]


def test_apply_asks_for_confirmation(repo: Path) -> None:
    refused = run_cli("apply", repo)  # stdin is not a terminal
    assert refused.returncode == 1 and "error[JC968]" in refused.stderr
    assert not state_db(repo).exists() or rows(repo, "SELECT COUNT(*) FROM applies") == [(0,)]
    for answer, applied in (("no\n", False), ("yes\n", True)):
        out, _ = _in_terminal([*journeyctl_command(), "apply", str(repo)], answer)
        assert "Apply these changes? Only 'yes' applies:" in out
        assert ("is now at serial 1" in out) is applied
        assert ("Nothing applied." in out) is not applied


def _in_terminal(command: list[str], answer: str) -> tuple[str, int]:
    """Run `command` with a pseudo-terminal as stdin/stdout and type `answer`: what it wrote,
    and its exit code."""
    import pty

    main, child = pty.openpty()
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child,
                               env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    os.close(child)
    output = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Only 'yes' applies" in output:
            os.write(main, answer.encode())
            answered = True
    code = process.wait(timeout=60)
    os.close(main)
    return output.decode(errors="replace"), code


def test_a_second_apply_waits_for_the_lock(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    store = SqliteStore(state_db(repo))
    lock = store.lock("apply", timeout=1)
    try:
        edit(repo, "name: Welcome new users", "name: Welcome!")
        started = time.monotonic()
        blocked = run_cli("apply", repo, "--auto-approve", "--lock-timeout", "1s")
        assert time.monotonic() - started >= 1
        assert blocked.returncode == 1
        assert f"error[JC962]: the state is locked by {lock.who} (pid {os.getpid()}" \
            in blocked.stderr
    finally:
        store.unlock(lock)
        store.close()
    assert run_cli("apply", repo, "--auto-approve").returncode == 0


def test_concurrent_applies_serialise(repo: Path) -> None:
    command = [*journeyctl_command(), "apply", str(repo), "--auto-approve"]
    env = {**os.environ, "NO_COLOR": "1"}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert sum("is now at serial 1" in out for out, _ in outputs) == 1  # one applied...
    assert sum("No changes" in out for out, _ in outputs) == 3  # ...the others found it done
    assert rows(repo, "SELECT journey, version FROM journey_versions") == [("welcome", 1)]
    assert rows(repo, "SELECT COUNT(*) FROM lock") == [(0,)]


def test_kill_9_mid_apply_keeps_the_state_and_leaves_a_lock_to_clear(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    before = rows(repo, "SELECT journey, version, hash FROM journey_versions")
    edit(repo, "name: Welcome new users", "name: Welcome!")
    # An apply killed (SIGKILL) after writing the first change, before committing.
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.argv = ["journeyctl", "apply", {str(repo)!r}, "--auto-approve"]
        from journeyctl.state import sqlite
        original = sqlite.SqliteStore._apply_change
        def die(self, *args, **kwargs):
            original(self, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        sqlite.SqliteStore._apply_change = die
        from journeyctl.cli import main
        main()
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert rows(repo, "SELECT journey, version, hash FROM journey_versions") == before
    assert rows(repo, "SELECT value FROM meta WHERE key = 'serial'") == [("1",)]
    again = run_cli("apply", repo, "--auto-approve")
    assert again.returncode == 1
    assert "error[JC963]: the state is locked by a process that is no longer running" \
        in again.stderr
    lock_id = rows(repo, "SELECT lock_id FROM lock")[0][0]
    assert f"journeyctl force-unlock {lock_id}" in again.stderr
    unlocked = run_cli("force-unlock", lock_id, "-p", repo)
    assert unlocked.returncode == 0 and "Unlocked" in unlocked.stdout
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    assert rows(repo, "SELECT MAX(version) FROM journey_versions") == [(2,)]


def test_broken_states_and_plan_files(repo: Path, tmp_path: Path) -> None:
    state_db(repo).parent.mkdir()
    state_db(repo).write_bytes(b"this is not sqlite" * 100)
    corrupt = run_cli("plan", repo)
    assert corrupt.returncode == 1 and "error[JC960]" in corrupt.stderr
    assert "is not a journeyctl state file" in corrupt.stderr
    state_db(repo).unlink()

    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    with sqlite3.connect(state_db(repo)) as db:
        db.execute("INSERT INTO migrations VALUES (99, 'from the future', 'x')")
    newer = run_cli("plan", repo)
    assert newer.returncode == 1 and "error[JC961]" in newer.stderr and "newer" in newer.stderr
    with sqlite3.connect(state_db(repo)) as db:
        db.execute("DELETE FROM migrations WHERE version = 99")

    edit(repo, "name: Welcome new users", "name: Welcome!")
    saved = tmp_path / "plan.json"
    run_cli("plan", repo, "--out", saved)
    edited = tmp_path / "edited.json"
    edited.write_text(saved.read_text().replace("Welcome!", "Welcome?"))
    tampered = run_cli("apply", edited, "--auto-approve")
    assert tampered.returncode == 1 and "error[JC964]" in tampered.stderr
    assert "checksum does not match" in tampered.stderr
    not_json = tmp_path / "x.json"
    not_json.write_text("{nope")
    assert "error[JC964]" in run_cli("apply", not_json, "--auto-approve").stderr

    other = tmp_path / "other"
    scaffold(other, "other")
    assert run_cli("apply", other, "--auto-approve").returncode == 0
    foreign = run_cli("apply", saved, "--auto-approve", "--state",
                      f"sqlite:///{state_db(other)}")
    assert foreign.returncode == 1 and "error[JC965]" in foreign.stderr

    bad_url = run_cli("plan", repo, "--state", "mysql://x")
    assert bad_url.returncode == 1 and "error[JC967]" in bad_url.stderr
    assert run_cli("history", "-p", tmp_path / "other", "--state",
                   f"sqlite:///{tmp_path / 'none.db'}").returncode == 1
    assert "error[JC969]" in run_cli("rollback", "welcome", "--to", "9", "-p", repo,
                                      "--auto-approve").stderr


def _reseal(path: Path, edit_plan) -> None:  # type: ignore[no-untyped-def]
    """Edit a saved plan and make its checksum match again, as a careless tool would."""
    from journeyctl.plan import seal

    plan = json.loads(path.read_text())
    edit_plan(plan)
    path.write_text(json.dumps(seal(plan)))


def test_a_plan_file_of_the_wrong_shape_is_refused_not_a_crash(repo: Path,
                                                               tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run_cli("plan", repo, "--out", saved).returncode == 0
    for name, edit_plan in (("no-state", lambda p: p.pop("state")),
                            ("serial", lambda p: p["state"].update(serial="0")),
                            ("content", lambda p: p["changes"][0].pop("content")),
                            ("changes", lambda p: p.update(changes={"a": 1}))):
        bad = tmp_path / f"{name}.json"
        bad.write_text(saved.read_text())
        _reseal(bad, edit_plan)
        refused = run_cli("apply", bad, "--auto-approve")
        assert refused.returncode == 1, (name, refused.stderr)
        assert "error[JC964]" in refused.stderr and "not a journeyctl plan" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not state_db(repo).exists()


def test_markdown_marks_updates_and_deletes(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    edit(repo, *ADD_STEP)
    markdown = run_cli("plan", repo, "--format", "markdown").stdout
    assert "```diff\n! ~ update journey welcome (v1 → v2)\n+       + step pause\n" in markdown
    assert markdown.endswith("```\n") and "Plan:" not in markdown


def test_state_urls_are_checked_where_they_are_written(repo: Path) -> None:
    for url in ("sqlite://state.db", "mysql://x"):
        text = (repo / "journeyctl.yaml").read_text()
        (repo / "journeyctl.yaml").write_text(
            "\n".join(f"state: {url}" if line.startswith("state:") else line
                      for line in text.splitlines()) + "\n")
        line = next(n for n, text in enumerate(
            (repo / "journeyctl.yaml").read_text().splitlines(), 1) if text.startswith("state:"))
        for command in (("validate", repo), ("plan", repo)):
            refused = run_cli(*command)
            said = refused.stdout + refused.stderr  # validate reports on stdout
            assert refused.returncode == 1, said
            assert f"journeyctl.yaml:{line}:8: error[JC104]: state: '{url}' is not a valid " \
                "value here" in said
            assert "sqlite:///relative/path.db" in said
            assert "postgresql://user@host:5432/database" in said
    assert not state_db(repo).exists()


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_programs_database_is_refused_and_left_alone(repo: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "users.db"
    with sqlite3.connect(theirs) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users (name) VALUES ('min')")
    before = _digest(theirs)
    for command in (("plan", repo), ("apply", repo, "--auto-approve"), ("status", repo),
                    ("history", "-p", repo)):
        refused = run_cli(*command, "--state", f"sqlite:///{theirs}")
        assert refused.returncode == 1, (command, refused.stderr)
        assert "error[JC960]" in refused.stderr
        assert "is not a journeyctl state file: it is an SQLite database with other tables " \
            "(users)" in refused.stderr and "left as it is" in refused.stderr
    assert _digest(theirs) == before
    with sqlite3.connect(theirs) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["users"]


def test_reading_commands_never_write_the_state(repo: Path) -> None:
    """plan, status and history read a state of an older schema as it is: only apply
    migrates it."""
    from journeyctl.state.migrations import MIGRATIONS, SCHEMA_VERSION

    state_db(repo).parent.mkdir()
    with sqlite3.connect(state_db(repo)) as db:  # a state written by journeyctl 1
        db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                   "applied_at TEXT NOT NULL)")
        for statement in MIGRATIONS[0][2]:
            db.execute(statement)
        db.execute("INSERT INTO migrations VALUES (1, 'first', 'x')")
        db.executemany("INSERT INTO meta VALUES (?, ?)", [("lineage", "l-1"), ("serial", "0")])
    before = _digest(state_db(repo))
    plan = run_cli("plan", repo, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "+ create journey welcome (v1)" in plan.stdout
    for command in (("status", repo), ("history", "-p", repo)):
        assert run_cli(*command).returncode == 0
    assert _digest(state_db(repo)) == before
    assert sorted(p.name for p in state_db(repo).parent.iterdir()) == ["state.db"]
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    assert rows(repo, "SELECT MAX(version) FROM migrations") == [(SCHEMA_VERSION,)]
    assert rows(repo, "SELECT value FROM meta WHERE key = 'lineage'") == [("l-1",)]


def test_state_paths_that_cannot_be_used_are_located_errors(repo: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    blocked = run_cli("apply", repo, "--auto-approve", "--state",
                      f"sqlite:///{a_file}/state.db")
    assert blocked.returncode == 1, blocked.stderr
    assert f"error[JC960]: cannot create the state at {a_file}/state.db: {a_file} is a file, " \
        "not a folder" in blocked.stderr
    folder = run_cli("status", repo, "--state", f"sqlite:///{tmp_path}")
    assert folder.returncode == 1 and "is a folder, not a state file" in folder.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 300)
    corrupt = run_cli("status", repo, "--state", f"sqlite:///{junk}")
    assert corrupt.returncode == 1
    assert "junk.db is not a journeyctl state file (it is not an SQLite database)" \
        in corrupt.stderr
    for url in ("mysql://x", "postgresql://db", "postgresql://me:secret@db/x", "sqlite:///"):
        bad = run_cli("plan", repo, "--state", url)
        assert bad.returncode == 1 and "--state: error[JC967]" in bad.stderr, bad.stderr
        assert "secret" not in bad.stderr


def test_plan_out_errors_name_the_option(repo: Path, tmp_path: Path) -> None:
    for out, said in ((tmp_path / "missing" / "plan.json", "create the folder"),
                      (tmp_path, "is a folder")):
        refused = run_cli("plan", repo, "--out", out)
        assert refused.returncode == 1, refused.stderr
        assert "--out: error[JC964]" in refused.stderr and said in refused.stderr
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no half-written plan left behind


def test_plan_and_apply_refuse_another_projects_state(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    scaffold(other, "other")
    assert run_cli("apply", other, "--auto-approve").returncode == 0
    url = f"sqlite:///{state_db(other)}"
    for command in (("plan", repo), ("apply", repo, "--auto-approve")):
        refused = run_cli(*command, "--state", url)
        assert refused.returncode == 1, refused.stderr
        assert "--state: error[JC965]: the state at " in refused.stderr
        assert "belongs to project 'other', not 'shop'" in refused.stderr
        assert "Apply these changes" not in refused.stdout and "Plan for" not in refused.stdout
    assert rows(other, "SELECT value FROM meta WHERE key = 'serial'") == [("1",)]


def test_a_saved_plan_is_checked_before_it_is_shown(repo: Path, tmp_path: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    edit(repo, "name: Welcome new users", "name: Welcome!")
    stale = tmp_path / "stale.json"
    assert run_cli("plan", repo, "--out", stale).returncode == 0
    assert run_cli("apply", repo, "--auto-approve").returncode == 0  # serial 2
    out, code = _in_terminal([*journeyctl_command(), "apply", str(stale)], "yes\n")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # bold, on a terminal
    assert code == 1 and "error[JC966]: the plan is stale" in out
    assert "stale.json: error[JC966]" in out
    assert "Apply these changes" not in out and "update journey" not in out
    # a plan made against a state is never applied to a new, empty one
    elsewhere = tmp_path / "elsewhere.db"
    fresh = tmp_path / "fresh.json"
    edit(repo, "name: Welcome!", "name: Welcome again")
    assert run_cli("plan", repo, "--out", fresh).returncode == 0
    refused = run_cli("apply", fresh, "--auto-approve", "--state", f"sqlite:///{elsewhere}")
    assert refused.returncode == 1 and "fresh.json: error[JC965]" in refused.stderr
    assert not elsewhere.exists()
    missing = run_cli("apply", tmp_path / "nonexistent.json", "--auto-approve")
    assert missing.returncode == 1
    assert "error[JC001]: " in missing.stderr and "not found" in missing.stderr
    assert "journeyctl init" not in missing.stderr


def test_a_saved_plan_records_the_projects_git_and_resolves_state_like_plan(
        repo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plans" / "plan.json"
    saved.parent.mkdir()
    url = "sqlite:///alt/state.db"  # relative to the project, wherever apply runs
    assert run_cli("plan", repo, "--state", url, "--out", saved).returncode == 0
    head = git(repo, "rev-parse", "HEAD")
    edit(repo, "name: Welcome new users", "name: Welcome!")  # a later commit: not the plan's
    applied = run_cli("apply", saved, "--auto-approve", "--state", url, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert (repo / "alt" / "state.db").exists() and not (tmp_path / "alt").exists()
    versions = json.loads(run_cli("history", "-p", repo, "--state", url, "--format",
                                  "json").stdout)["versions"]
    assert versions[0]["commit"] == head and versions[0]["author"] == "Min Kim <min@example.com>"


def test_ctrl_d_at_the_prompt_is_a_no(repo: Path) -> None:
    out, code = _in_terminal([*journeyctl_command(), "apply", str(repo)], "\x04")
    assert "Nothing applied." in out and code == 0, out
    assert "Traceback" not in out and "internal error" not in out
    assert rows(repo, "SELECT COUNT(*) FROM applies") == [(0,)]


def test_status_names_the_lock_holder(repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    store = SqliteStore(state_db(repo))
    with store.locked("apply", timeout=1) as lock:
        status = json.loads(run_cli("status", repo, "--format", "json").stdout)
        assert status["locked_by"] == {"who": lock.who, "operation": "apply",
                                       "since": lock.since}
        text = run_cli("status", repo).stdout
        assert f"locked by {lock.who} (apply since {lock.since})" in text
    assert store.holder() is None
    store.close()
    assert json.loads(run_cli("status", repo, "--format", "json").stdout)["locked_by"] is None


def test_rollback_to_the_current_version_changes_nothing_and_warns_of_nothing(
        repo: Path) -> None:
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    same = run_cli("rollback", "welcome", "--to", "1", "-p", repo, "--auto-approve")
    assert same.returncode == 0 and "No changes" in same.stdout
    assert "revert them in git" not in same.stderr
    assert rows(repo, "SELECT value FROM meta WHERE key = 'serial'") == [("1",)]
    none = run_cli("rollback", "welcome", "--to", "1", "-p", repo, "--auto-approve",
                   "--state", "sqlite:///nowhere.db")
    assert none.returncode == 1 and "error[JC969]: there is no state at" in none.stderr
    assert not (repo / "nowhere.db").exists()


def test_a_read_only_state_is_read_and_apply_says_why_it_cannot_write(repo: Path) -> None:
    """A state file nobody may write: chmod does that for a normal user; root ignores it, so
    as root `chattr +i` does (it needs CAP_LINUX_IMMUTABLE: without it, the one case with no
    way to make a file read-only, the test skips)."""
    assert run_cli("apply", repo, "--auto-approve").returncode == 0
    path = state_db(repo)
    if os.geteuid() != 0:
        path.chmod(0o444)
        thaw = ["chmod", "644", str(path)]
    else:
        frozen = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if frozen.returncode != 0:
            pytest.skip("running as root without CAP_LINUX_IMMUTABLE: chattr +i is refused")
        thaw = ["chattr", "-i", str(path)]
    try:
        for command in (("status", repo), ("plan", repo), ("history", "-p", repo)):
            assert run_cli(*command).returncode == 0, command
        edit(repo, "name: Welcome new users", "name: Welcome!")
        refused = run_cli("apply", repo, "--auto-approve")
        assert refused.returncode == 1, refused.stderr
        assert "error[JC960]: cannot write to the state" in refused.stderr
        assert "is not a journeyctl state" not in refused.stderr
    finally:
        subprocess.run(thaw, check=True)
    assert rows(repo, "SELECT value FROM meta WHERE key = 'serial'") == [("1",)]
