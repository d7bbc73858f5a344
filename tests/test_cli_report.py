"""`journeyctl report`: the daemon's live counts as the simulate report (text, JSON, HTML),
over a state the daemon's core ran on (in this process, on its own clock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import run_cli
from tests.support.harness import (
    MovableClock,
    apply,
    counted,
    open_core,
    project_copy,
    state_url,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
DAY = 86_400


PROFILES = [{"user_id": u, "email": f"{u}@example.com", "consent": {"email": True}}
            for u in ("a", "b", "c")]
EVENTS = [{"event_id": f"{user}-{name}", "user_id": user, "event": name, "time": T0 + day * DAY,
           "properties": {"amount": 10.0} if name == "purchase" else {}}
          for day, user, name in ((0, "a", "signup"), (0, "b", "signup"), (1, "c", "purchase"))]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The daemon test project, with a global control group, applied; and three users
    through it: two signups on the first day, a purchase on the next."""
    tmp = tmp_path_factory.mktemp("report")
    project = project_copy(tmp)
    settings = project / "journeyctl.yaml"
    settings.write_text(settings.read_text(encoding="utf-8")
                        + 'holdout: {percent: 40, salt: "live"}\n', encoding="utf-8")
    state = tmp / "state.db"
    apply(project, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([dict(p) for p in PROFILES])
    for event in EVENTS:
        clock.now = event["time"]
        core.ingest([[dict(event)]])
        while core.process(budget=60):
            pass
    clock.now = T0 + 3 * DAY
    while core.process(budget=60):
        pass
    core.close()
    return project, state


def report(project: Path, state: Path, *args: str) -> dict:
    done = run_cli("report", project, "--state", state_url(state), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_json_report_counts_what_the_daemon_ran(ran: tuple[Path, Path]) -> None:
    project, state = ran
    live = report(project, state)
    assert live["source"] == "live"
    assert live["events"]["read"] == 3 and live["users"] == 3
    assert live["journeys"]["welcome"]["entered"] == 2
    assert live["journeys"]["receipt"]["entered"] == 1
    welcome = live["journeys"]["welcome"]
    assert welcome["versions"] == {
        "1": {"entered": 2, "completed": 2, "conversions": 0, "revenue": 0,
              "messages": welcome["messages"], "cost": 0}}
    assert welcome["messages"] > 0
    assert sum(live["messages"]["by_channel"].values()) == live["messages"]["total"] == \
        welcome["messages"] + live["journeys"]["receipt"]["messages"]


def test_the_live_report_is_the_simulate_report_of_the_same_events(
        ran: tuple[Path, Path], tmp_path: Path) -> None:
    project, state = ran
    events, profiles = tmp_path / "events.jsonl", tmp_path / "profiles.jsonl"
    events.write_text("".join(json.dumps({**e, "timestamp": e["time"]}) + "\n"
                              for e in EVENTS), encoding="utf-8")
    profiles.write_text("".join(json.dumps(p) + "\n" for p in PROFILES), encoding="utf-8")
    done = run_cli("simulate", project, "--events", events, "--profiles", profiles, "--json",
                   "--until", "2026-05-31T20:26:40Z")
    assert done.returncode == 0, done.stderr
    simulated = json.loads(done.stdout)
    live = report(project, state)
    assert counted(live) == counted(simulated)
    # the control group's counts too: who is in it, what they converted
    assert live["holdout"] == simulated["holdout"]
    assert live["holdout"]["control"]["users"] + live["holdout"]["treated"]["users"] == 3
    assert live["holdout"]["control"]["users"] > 0
    assert live["journeys"]["welcome"]["steps"]["nudge"]["suppressed"]["holdout"] > 0


def test_since_and_until_take_the_hours_that_overlap_the_window(ran: tuple[Path, Path]
                                                                ) -> None:
    project, state = ran
    # the first day only: the two signups, not the purchase a day later
    first = report(project, state, "--until", "2026-05-29T12:00:00Z")
    assert first["journeys"]["welcome"]["entered"] == 2
    assert first["journeys"]["receipt"]["entered"] == 0
    assert first["window"] == {"start": None, "until": "2026-05-29T12:00:00Z"}
    later = report(project, state, "--since", "2026-05-29T12:00:00Z")
    assert later["journeys"]["welcome"]["entered"] == 0
    assert later["journeys"]["receipt"]["entered"] == 1
    assert later["events"]["read"] == 1


def test_the_text_and_html_reports(ran: tuple[Path, Path], tmp_path: Path) -> None:
    project, state = ran
    html = tmp_path / "live.html"
    done = run_cli("report", project, "--state", state_url(state), "--report", html)
    assert done.returncode == 0, done.stderr
    assert "live counts, from the first → now" in done.stdout
    assert "welcome · entered 2" in done.stdout
    assert "receipt · entered 1" in done.stdout
    assert "<html" in html.read_text(encoding="utf-8")


def test_a_bad_window_and_a_missing_state_are_clear_errors(ran: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    project, state = ran
    bad = run_cli("report", project, "--state", state_url(state), "--since", "yesterday")
    assert bad.returncode == 1
    assert "JC931" in bad.stderr and "--since 'yesterday' is not a time" in bad.stderr
    assert "Traceback" not in bad.stderr
    empty = run_cli("report", project, "--state", state_url(state), "--since",
                    "2026-06-02", "--until", "2026-06-01")
    assert empty.returncode == 1 and "is not after --since" in empty.stderr
    missing = run_cli("report", project, "--state", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 1
    assert "JC969" in missing.stderr and "journeyctl apply" in missing.stderr
