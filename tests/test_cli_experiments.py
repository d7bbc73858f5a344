"""End-to-end: `journeyctl experiments` judges a report made by the real `simulate --json`, and
`--promote` edits only the split's weights in the journey file (or refuses, leaving it alone)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from journeyctl.engine.split import bucket
from journeyctl.scaffold import scaffold
from tests.support import run_cli
from tests.support.harness import MovableClock, apply, open_core

pytestmark = pytest.mark.e2e  # every test here starts a process

T0 = 1_780_000_000.0

JOURNEY = """\
# yaml-language-server: $schema=../schema/journey.schema.json
# an A/B test of the welcome offer
journey: ab
trigger: {event: signup}
goal: {event: purchase, within: 14d}
steps:
  - id: pick
    split:
      - {variant: a, weight: 50}   # the old offer
      - variant: b
        weight:   50
    decide: {metric: conversion, min_per_variant: MIN, confidence: 0.95}
  - id: done
    exit: {}
"""


def _project(tmp_path: Path, min_per_variant: int) -> Path:
    root = tmp_path / "proj"
    scaffold(root, "proj")
    (root / "journeys/ab.yaml").write_text(JOURNEY.replace("MIN", str(min_per_variant)))
    return root


def _events(root: Path, users: int) -> Path:
    """Signups, then purchases: half of variant b's users buy, a fifth of variant a's."""
    lines = []
    for i in range(users):
        lines.append({"event_id": f"s{i}", "user_id": f"u{i}", "event": "signup",
                      "timestamp": "2024-01-01T09:00:00Z", "properties": {}})
    for i in range(users):
        in_b = bucket("ab", "pick", f"u{i}") >= 5000
        if (in_b and i % 2 == 0) or (not in_b and i % 5 == 0):
            lines.append({"event_id": f"p{i}", "user_id": f"u{i}", "event": "purchase",
                          "timestamp": "2024-01-02T09:00:00Z", "properties": {"amount": 10}})
    path = root / "data/ab.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _report(root: Path, users: int) -> Path:
    result = run_cli("simulate", root, "--events", _events(root, users), "--json")
    assert result.returncode == 0, result.stderr
    path = root.parent / "report.json"
    path.write_text(result.stdout)
    return path


def test_lists_the_split_with_a_clear_winner(tmp_path: Path) -> None:
    root = _project(tmp_path, 100)
    report = _report(root, 600)
    result = run_cli("experiments", root, "--results", report, "--json")
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)["experiments"]
    assert (found["journey"], found["step"], found["winner"]) == ("ab", "pick", "b")
    a, b = found["variants"]
    assert a["control"] and a["entered"] + b["entered"] == 600
    assert b["conversion_rate"] > a["conversion_rate"] and b["p_value"] < 0.05
    assert b["sample_reached"] and found["rule"]["min_per_variant"] == 100
    text = run_cli("experiments", root, "--results", report)
    assert text.returncode == 0, text.stderr
    assert "winner: b" in text.stdout
    assert f"journeyctl experiments {root} --results {report} --promote ab/pick" in text.stdout


def test_promote_edits_only_the_weights_and_the_project_stays_valid(tmp_path: Path) -> None:
    root = _project(tmp_path, 100)
    report = _report(root, 600)
    path = root / "journeys/ab.yaml"
    before = path.read_text()
    result = run_cli("experiments", root, "--results", report, "--promote", "ab/pick")
    assert result.returncode == 0, result.stderr
    after = path.read_text()
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                     lineterm="", n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-      - {variant: a, weight: 50}   # the old offer",
                       "+      - {variant: a, weight: 0}   # the old offer",
                       "-        weight:   50",
                       "+        weight:   100"]
    assert "-        weight:   50\n+        weight:   100" in result.stdout  # the diff shown
    assert "everyone now goes to b" in result.stdout
    assert run_cli("validate", root).returncode == 0
    again = run_cli("experiments", root, "--results", report, "--promote", "ab/pick")
    assert again.returncode == 1 and "JC936" in again.stderr and "already promoted" in again.stderr
    assert path.read_text() == after


def test_promote_refuses_without_a_winner_and_leaves_the_file(tmp_path: Path) -> None:
    root = _project(tmp_path, 500)
    report = _report(root, 600)  # about 300 users per variant, 500 needed
    path = root / "journeys/ab.yaml"
    before = path.read_bytes()
    result = run_cli("experiments", root, "--results", report, "--promote", "ab/pick")
    assert result.returncode == 1
    assert "error[JC935]: ab/pick has no winner yet: variant a has" in result.stderr
    assert "of the 500 users it needs" in result.stderr
    assert path.read_bytes() == before
    listing = run_cli("experiments", root, "--results", report)
    assert listing.returncode == 0 and "no winner yet" in listing.stdout


def test_promote_names_the_split_it_meant(tmp_path: Path) -> None:
    root = _project(tmp_path, 100)
    report = _report(root, 20)
    for target, message, hint in (
        ("ab/pik", "ab/pik: journey ab has no step 'pik'", "did you mean ab/pick?"),
        ("welcome/send_welcome", "step 'send_welcome' of welcome is not a split",
         "splits: ab/pick"),
    ):
        result = run_cli("experiments", root, "--results", report, "--promote", target)
        assert result.returncode == 1
        assert "error[JC936]" in result.stderr and message in result.stderr
        assert hint in result.stderr


def test_a_results_file_that_is_no_report_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, 100)
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    result = run_cli("experiments", root, "--results", bad)
    assert result.returncode == 1
    assert "--results: error[JC935]" in result.stderr and "not a journeyctl report" in \
        result.stderr


def test_judges_and_promotes_from_the_live_results_of_a_state(tmp_path: Path) -> None:
    """`--state`: the daemon's own counts (its core ran the events on a real SQLite state)."""
    root = _project(tmp_path, 100)
    events = [json.loads(line) for line in
              _events(root, 600).read_text(encoding="utf-8").splitlines()]
    state = tmp_path / "state.db"
    apply(root, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    for day in (0, 1):  # the signups, then a day later the purchases
        clock.now = T0 + day * 86_400
        core.ingest([[{**e, "time": clock.now} for e in events
                      if e["event"] == ("signup", "purchase")[day]]])
        while core.process(budget=60):
            pass
    core.close()
    url = f"sqlite:///{state}"
    listed = run_cli("experiments", root, "--state", url, "--json")
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)["experiments"]
    assert found["winner"] == "b"
    assert sum(v["entered"] for v in found["variants"]) == 600
    promoted = run_cli("experiments", root, "--state", url, "--promote", "ab/pick")
    assert promoted.returncode == 0, promoted.stderr
    assert "everyone now goes to b" in promoted.stdout
