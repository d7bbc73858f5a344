"""End-to-end: conditions are bounded. `validate` refuses a CEL expression that may cost too
much (JC408, located, with its estimate), and `simulate` counts a condition not run because it
would cost too much with a user's data (reason `over_budget`), through the real command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import run_cli
from tests.support.harness import project_where

pytestmark = pytest.mark.e2e  # every test here starts a process

LOOP = "event.items.map(i, i * 2).exists(p, p > 100)"  # map() copies its result: quadratic


def signups(path: Path) -> Path:
    """One signup with a short list, one with a list of 1,000 items."""
    lines = [{"user_id": "small", "event": "signup", "timestamp": "2026-01-05T09:00:00Z",
              "properties": {"items": [10, 60, 3]}},
             {"user_id": "big", "event": "signup", "timestamp": "2026-01-05T09:00:01Z",
              "properties": {"items": list(range(1_000))}}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_validate_refuses_a_condition_that_may_cost_too_much(tmp_path: Path) -> None:
    project = project_where(tmp_path, "lists.range(10000).map(x, x * 2).size() > 0")
    done = run_cli("validate", project)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert re.search(
        r"journeys/welcome\.yaml:5:11: error\[JC408\]: this expression may cost "
        r"100,\d{3},\d{3} units per evaluation, over the limit of 1,000,000: `map\(\)` runs its "
        r"body \(cost \d+\) for each of up to 10,000 entries, and copies its growing result at "
        r"each one", out), out
    assert "^" * len("lists.range(10000).map(x, x * 2)") in out  # the costly part, underlined
    assert ("hint: map() and filter() copy their result at every entry, so their cost grows "
            "with the square of the list: loop over fewer entries, or use exists(), all() or "
            "exists_one(), which copy nothing") in out


def test_validate_names_unbounded_parts_and_the_sizes_it_assumes(tmp_path: Path) -> None:
    project = project_where(
        tmp_path, "event.items.exists(a, event.items.exists(b, event.items.exists(c, a == b)))")
    done = run_cli("validate", project)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "error[JC408]" in out and "for each of up to 100 entries" in out
    assert ("(validate assumes event and profile lists of up to 100 entries and strings of up "
            "to 1,000 characters)") in out
    unbounded = project_where(tmp_path / "other", "lists.range(event.items[0]).size() > 0")
    done = run_cli("validate", unbounded)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "an unbounded number of units" in out
    assert "`lists.range()` with a size that is not a constant number" in out
    assert "hint: write the size as a number, as in lists.range(10)" in out


def test_validate_accepts_loops_over_event_data(tmp_path: Path) -> None:
    done = run_cli("validate", project_where(tmp_path, LOOP))
    assert done.returncode == 0, done.stdout + done.stderr


def test_simulate_counts_a_condition_too_costly_for_a_users_data(tmp_path: Path) -> None:
    project = project_where(tmp_path, LOOP)
    events = signups(tmp_path / "events.jsonl")
    done = run_cli("simulate", project, "--events", events, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["journeys"]["welcome"]["entered"] == 1  # `small`; `big` was not evaluated
    assert report["failed_expressions"] == [
        {"journey": "welcome", "where": "trigger.where", "reason": "over_budget", "count": 1}]
    text = run_cli("simulate", project, "--events", events)
    assert text.returncode == 0, text.stderr
    assert "conditions that failed at run time and counted as false: 1" in text.stdout
    assert "welcome trigger.where: over_budget 1" in text.stdout
    trace = run_cli("simulate", project, "--events", events, "--trace", "big")
    assert "trigger.where failed (over budget: it may cost" in " ".join(trace.stdout.split())
