"""End-to-end: `journeyctl state copy` through the real command, on a state made by a real
`apply` (plus runtime rows seeded through the store), from SQLite to a real PostgreSQL
database and back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from journeyctl.engine import effects as fx
from journeyctl.engine.state import new_state
from journeyctl.scaffold import scaffold
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from tests.support import run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

T0 = 1_780_000_000.0
PASSWORD = "s3cret-Pa55"
TABLE = ["applies", "journey_versions", "settings_versions", "profiles", "user_state",
         "instances", "timers", "inbox", "outbox", "set_aside", "ticks"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scaffolded project, applied by the real command, with users in flight: profiles,
    events (one processed: an instance at a step, a timer, a message), more events pending."""
    root = tmp_path / "shop"
    scaffold(root, "shop")
    applied = run_cli("apply", root, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    store = SqliteStore(root / ".journeyctl" / "state.db")
    runtime = SqliteRuntime(store)
    users = [f"user-{n}" for n in range(5)]
    runtime.upsert_profiles([{"user_id": u, "email": f"{u}@example.com"} for u in users], T0)
    runtime.ingest([[{"event_id": f"e{n}", "user_id": u, "event": "signup", "time": T0}
                     for n, u in enumerate(users)]], T0)
    row = runtime.next_event(T0)
    assert row is not None
    state, _ = runtime.load_user(row.user_id, new_state)
    message = {"idempotency_key": "k1", "user_id": row.user_id, "journey": "welcome",
               "step": "send_welcome", "channel": "email", "template": "welcome_email",
               "category": "transactional", "time": T0}
    runtime.commit(state, [fx.Entered(row.user_id, "welcome", 1, T0, 1),
                           fx.StepReached(row.user_id, "welcome", 1, "send_welcome", T0),
                           fx.SetTimer(row.user_id, "w", 1, T0 + 86400)],
                   [message], at=T0, now=T0, serial=1, inbox_seq=row.seq)
    store.close()
    return root


def with_password(pg_url: str) -> str:
    """The URL with its password read from $PGPW (never written on the command line)."""
    return pg_url.replace("postgresql://postgres@", "postgresql://postgres:env:PGPW@")


def counts(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^\W*(\w+)\W+(\d+)\W*$", output, re.M)}


def test_copy_to_postgresql_is_the_same_state_for_plan_history_and_status(
        project: Path, pg_url: str) -> None:
    to = with_password(pg_url)
    env = {"PGPW": PASSWORD}
    copied = run_cli("state", "copy", "--from", "sqlite:///.journeyctl/state.db", "--to", to,
                     cwd=project, env=env)
    assert copied.returncode == 0, copied.stderr
    shown = to.replace("env:PGPW", "***")
    assert f"copied .journeyctl/state.db to {shown}" in copied.stdout
    assert counts(copied.stdout) == {"applies": 1, "journey_versions": 1,
                                     "settings_versions": 1, "profiles": 5, "user_state": 1,
                                     "instances": 1, "timers": 1, "inbox": 5, "outbox": 1,
                                     "set_aside": 0, "report_counts": 0, "aliases": 0,
                                     "suppressions": 0, "ticks": 0}
    assert f"Copied: {shown} holds the same state (project shop, serial 1," in copied.stdout
    assert PASSWORD not in copied.stdout + copied.stderr

    plan = run_cli("plan", project, "--state", to, "--detailed-exitcode", env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout
    for command in ("history", "status"):
        here = run_cli(command, project, "--format", "json")
        there = run_cli(command, project, "--state", to, "--format", "json", env=env)
        assert here.returncode == there.returncode == 0, there.stderr
        assert json.loads(there.stdout) == json.loads(here.stdout) | (
            {"state": shown} if command == "status" else {}), command
    assert "send_welcome" in here.stdout  # status shows the instance in flight

    again = run_cli("state", "copy", "--from", "sqlite:///.journeyctl/state.db", "--to", to,
                    cwd=project, env=env)
    assert again.returncode == 1
    assert f"--to: error[JC986]: {shown} already holds a state (serial 1)" in again.stderr
    assert PASSWORD not in again.stdout + again.stderr


def test_copy_back_to_sqlite_keeps_the_history_and_a_saved_plan_applies_to_the_copy(
        project: Path, pg_url: str, tmp_path: Path) -> None:
    welcome = project / "journeys" / "welcome.yaml"
    welcome.write_text(welcome.read_text(encoding="utf-8").replace("timeout: 3d", "timeout: 2d"),
                       encoding="utf-8")
    saved = run_cli("plan", project, "--out", tmp_path / "edit.json")
    assert saved.returncode == 0, saved.stderr

    there = run_cli("state", "copy", "--from", "sqlite:///.journeyctl/state.db", "--to",
                    pg_url, cwd=project)
    assert there.returncode == 0, there.stderr
    back = run_cli("state", "copy", "--from", pg_url, "--to", "sqlite:///back/state.db",
                   cwd=project)
    assert back.returncode == 0, back.stderr
    assert counts(back.stdout) == counts(there.stdout)

    applied = run_cli("apply", tmp_path / "edit.json", "--state", "sqlite:///back/state.db")
    assert applied.returncode == 0, applied.stderr  # the copy is the state the plan was made for
    assert "is now at serial 2" in applied.stdout
    history = run_cli("history", project, "--state", "sqlite:///back/state.db", "-f", "json")
    versions = json.loads(history.stdout)["versions"]
    assert [(v["journey"], v["version"], v["action"]) for v in versions] == [
        ("welcome", 1, "create"), ("welcome", 2, "update")]


def test_copy_refuses_a_source_without_a_state_and_a_bad_url(tmp_path: Path,
                                                               pg_url: str) -> None:
    missing = run_cli("state", "copy", "--from", "sqlite:///nothing.db", "--to", pg_url,
                      cwd=tmp_path)
    assert missing.returncode == 1
    assert "--from: error[JC969]: there is no state at nothing.db: nothing was ever applied " \
        "there" in missing.stderr
    assert not (tmp_path / "nothing.db").exists()
    bad = run_cli("state", "copy", "--from", "sqlite:///a.db", "--to",
                  "postgresql://me:hunter2@db/x", cwd=tmp_path)
    assert bad.returncode == 1 and "--to: error[JC967]" in bad.stderr
    assert "hunter2" not in bad.stderr
