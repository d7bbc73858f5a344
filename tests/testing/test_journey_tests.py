"""`journeyctl test`: the example project's tests pass; failures read well; bad test files are
located errors."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from conftest import EXAMPLE, run_cli

PASSING = """\
journeys: [welcome]
start: "2024-03-04T09:00:00Z"
profiles:
  u1: {email: a@example.com, consent: {email: true}}
tests:
  - name: welcome then nudge
    events:
      - {at: +0, user: u1, event: signup}
    until: +4d
    expect:
      messages:
        - {at: +0, step: send_welcome, template: welcome_email, category: transactional}
        - {at: +3d, step: send_nudge, template: nudge_email}
      exits:
        - {user: u1, journey: welcome, reason: completed, at: +3d}
      steps:
        - {user: u1, journey: welcome, at: +1d, step: wait_for_purchase}
        - {user: u1, journey: welcome, at: +3d1h, step: null}
"""


def write(root: Path, text: str) -> Path:
    path = root / "tests" / "welcome.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_example_project_tests_pass() -> None:
    result = run_cli("test", EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split()[0])
    tests = sum((EXAMPLE / "tests" / f).read_text().count("\n  - name:")
                for f in (p.name for p in (EXAMPLE / "tests").glob("*.yaml")))
    assert summary == f"{tests} passed, 0 failed" and passed >= 6 * 3


def test_every_example_journey_has_tests() -> None:
    tested = set()
    for path in (EXAMPLE / "tests").glob("*.yaml"):
        for line in path.read_text().splitlines():
            if line.startswith("journeys: ["):
                tested |= set(line.removeprefix("journeys: [").rstrip("]").split(", "))
    assert tested == {p.stem for p in (EXAMPLE / "flows").glob("*.yaml")}


def test_a_passing_test(new_project: Path) -> None:
    write(new_project, PASSING)
    result = run_cli("test", new_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ welcome then nudge" in result.stdout and "1 passed, 0 failed" in result.stdout


def test_a_failure_shows_a_diff_and_the_trace(new_project: Path) -> None:
    write(new_project, PASSING.replace("at: +3d, step: send_nudge", "at: +2d, step: send_nudge")
          .replace("step: wait_for_purchase}", "step: send_nudge}"))
    result = run_cli("test", new_project)
    assert result.returncode == 1
    out = result.stdout
    assert "✗ welcome then nudge" in out
    assert "messages differ: expected 2, got 2 (- expected, + actual)" in out
    assert "- +2d  send_nudge  nudge_email" in out and "+ +3d  send_nudge  nudge_email" in out
    assert "at +1d u1 is at step wait_for_purchase of welcome, expected at step send_nudge" in out
    assert "trace of u1:" in out and "sent email: nudge_email [promotional]" in out
    assert "0 passed, 1 failed" in out


def test_json_and_junit(new_project: Path) -> None:
    write(new_project, PASSING.replace("at: +3d, step", "at: +2d, step"))
    report = json.loads(run_cli("test", new_project, "--format", "json").stdout)
    assert report["schema_version"] == 1 and (report["passed"], report["failed"]) == (0, 1)
    assert report["tests"][0]["failures"][0]["what"] == "messages"
    junit = run_cli("test", new_project, "--format", "junit")
    assert junit.returncode == 1
    suite = ET.fromstring(junit.stdout.split("\n", 1)[1]).find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "1"
    assert suite.find("testcase/failure") is not None


def test_bad_test_files_are_located_errors(new_project: Path) -> None:
    path = write(new_project, PASSING.replace("step: send_nudge", "step: send_nudj")
                 .replace("at: +3d1h", "at: +3dd").replace("event: signup}",
                                                           "event: purchase}"))
    result = run_cli("test", new_project)
    assert result.returncode == 1
    err = result.stderr
    assert f"{path}:13:27: error[JC950]" in err
    assert "error[JC950]: unknown step 'send_nudj'" in err and "did you mean 'send_nudge'" in err
    assert "error[JC951]: '+3dd' is not a time" in err
    assert "error[JC952]: test event purchase: event 'purchase' needs property 'amount'" in err


def test_no_tests_is_an_error(new_project: Path) -> None:
    result = run_cli("test", new_project)
    assert result.returncode == 1 and "no journey tests" in result.stderr
