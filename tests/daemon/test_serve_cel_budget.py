"""Conditions are bounded in `serve` as in `simulate`: a condition that would cost too much
with a user's data is not run and counts as false (reason `over_budget`); the daemon counts it
in /metrics and logs a warning naming the journey, the condition and the expression, and the
simulator counts the same events the same way."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.state import codec
from tests.support import run_cli
from tests.support.harness import Served, State, apply, project_where, rows, wait_until

pytestmark = pytest.mark.e2e  # every test here starts a process

LOOP = "event.items.map(i, i * 2).exists(p, p > 100)"  # map() copies its result: quadratic
METRIC = ('journeyctl_expression_failures_total{journey="welcome",reason="over_budget",'
          'where="trigger.where"} 1.0')


def test_serve_counts_and_logs_a_condition_too_costly_for_a_users_data(
        tmp_path: Path, state: State) -> None:
    project = project_where(tmp_path, LOOP)
    apply(project, state)
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        for user, items in (("small", [10, 60, 3]), ("big", list(range(1_000)))):
            ack = served.post("/v1/events", {
                "event_id": f"s-{user}", "user_id": user, "event": "signup",
                "timestamp": time.time(), "properties": {"items": items}})
            assert ack.status_code == 202, ack.text
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")
                   == [(0,)])
        wait_until(lambda: METRIC in served.get("/metrics").text)
        warnings = wait_until(lambda: [r for r in served.logs if r.get("level") == "warning"
                                       and r.get("reason") == "over_budget"])
    assert len(warnings) == 1
    warning = warnings[0]
    assert (warning["journey"], warning["where"], warning["user_id"], warning["expression"]) == \
        ("welcome", "trigger.where", "big", LOOP)
    assert warning["message"].startswith(
        "journey welcome: trigger.where counted as false for user big, not evaluated: over "
        "budget: it may cost ")
    assert rows(state, "SELECT user_id FROM instances WHERE journey = 'welcome'") == \
        [("small",)]

    # the same events through the simulator: the same entries, the same count
    arrived = rows(state, "SELECT event_id, user_id, name, properties, received_at FROM inbox "
                          "ORDER BY seq")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({
        "event_id": e, "user_id": u, "event": n, "properties": codec.loads(p), "timestamp": t})
        + "\n" for e, u, n, p, t in arrived), encoding="utf-8")
    done = run_cli("simulate", project, "--events", events, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["journeys"]["welcome"]["entered"] == 1
    assert report["failed_expressions"] == [
        {"journey": "welcome", "where": "trigger.where", "reason": "over_budget", "count": 1}]
