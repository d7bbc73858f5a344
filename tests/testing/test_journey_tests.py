"""`journeyctl test`: the example project's tests pass; failures read well; bad test files are
located errors."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from journeyctl.project import validate
from journeyctl.testing import spec
from tests.support import EXAMPLE, run_cli

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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_a_passing_test(new_project: Path) -> None:
    write(new_project, PASSING)
    result = run_cli("test", new_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ welcome then nudge" in result.stdout and "1 passed, 0 failed" in result.stdout


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_no_tests_is_an_error(new_project: Path) -> None:
    (new_project / "tests/welcome.yaml").unlink()  # init writes one
    result = run_cli("test", new_project)
    assert result.returncode == 1 and "no journey tests" in result.stderr


def errors_of(result: subprocess.CompletedProcess[str]) -> str:
    """stderr of a run that must fail as located errors: exit 1, no crash."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stderr


@pytest.mark.e2e
def test_a_draft_journey_is_a_located_error(new_project: Path) -> None:
    journey = new_project / "journeys" / "welcome.yaml"
    journey.write_text(journey.read_text().replace("status: active", "status: draft"))
    path = write(new_project, PASSING)
    err = errors_of(run_cli("test", new_project))
    assert (f"{path}:1:12: error[JC950]: journey 'welcome' is a draft; drafts never run"
            in err and "set `status: active` in its file to test it" in err)
    assert f"{path}:15:31: error[JC950]: journey 'welcome' is a draft" in err  # exits: entry


@pytest.mark.parametrize(("time", "line", "col"), [
    ('start: "0001-01-01T00:00:00"', 2, 8),
    ('start: "1969-12-31T23:59:59Z"', 2, 8),
    ('until: "9999-12-31T23:59:59-14:00"', 9, 12),
    ("until: +99999999999999d", 9, 12),
])
@pytest.mark.e2e
def test_times_the_simulator_cannot_run_are_located_errors(new_project: Path, time: str,
                                                           line: int, col: int) -> None:
    key = time.split(":")[0]
    text = PASSING.replace('start: "2024-03-04T09:00:00Z"' if key == "start" else
                           "until: +4d", time)
    path = write(new_project, text)
    err = errors_of(run_cli("test", new_project))
    assert f"{path}:{line}:{col}: error[JC951]: " in err
    assert "is outside the years 1970 to 9998 that tests simulate" in err


@pytest.mark.e2e
def test_an_event_out_of_range_is_a_located_error(new_project: Path) -> None:
    path = write(new_project, PASSING.replace("    until: +4d\n", "").replace(
        "{at: +0, user: u1, event: signup}",
        '{at: +0, user: u1, event: signup}\n      - {at: "9999-12-31T23:59:59-14:00", '
        "user: u1, event: signup}"))
    err = errors_of(run_cli("test", new_project))
    assert f"{path}:9:14: error[JC951]: '9999-12-31T23:59:59-14:00' is outside" in err


@pytest.mark.e2e
def test_start_must_be_absolute_and_times_are_read_like_event_files(new_project: Path) -> None:
    path = write(new_project, PASSING.replace('"2024-03-04T09:00:00Z"', "+1d"))
    err = errors_of(run_cli("test", new_project))
    assert f"{path}:2:8: error[JC951]: `start` must be an absolute time, not '+1d'" in err
    # naive times are in the project zone, as in event files: 09:00 UTC is the same start
    write(new_project, PASSING.replace('"2024-03-04T09:00:00Z"', '"2024-03-04 09:00"'))
    result = run_cli("test", new_project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_times_after_until_are_located_errors(new_project: Path) -> None:
    path = write(new_project, PASSING.replace("until: +4d", "until: +2d"))
    err = errors_of(run_cli("test", new_project))
    assert f"{path}:13:16: error[JC951]: '+3d' is after this test's `until`" in err
    assert f"{path}:18:44: error[JC951]: '+3d1h' is after this test's `until`" in err
    # a bad `until` is one error, not one more per time after it
    write(new_project, PASSING.replace("until: +4d", "until: +4x"))
    err = errors_of(run_cli("test", new_project))
    assert err.count("error[") == 1 and "'+4x' is not a time" in err


@pytest.mark.e2e
def test_unknown_variants_are_located_errors(new_project: Path) -> None:
    path = write(new_project, PASSING.replace("category: transactional}",
                                              'variant: "ab=b"}'))
    err = errors_of(run_cli("test", new_project))
    assert f"{path}:12:74: error[JC950]: unknown variant 'ab=b'" in err


@pytest.mark.e2e
def test_variant_null_shows_as_null_in_a_diff(new_project: Path) -> None:
    write(new_project, PASSING.replace("category: transactional}",
                                       "variant: null, category: promotional}"))
    result = run_cli("test", new_project)
    assert result.returncode == 1
    assert "- +0  send_welcome  welcome_email  null  promotional" in result.stdout
    assert "- +3d  send_nudge  nudge_email  *  *" not in result.stdout  # fields it leaves out
    assert "+3d  send_nudge  nudge_email  null  promotional" in result.stdout


@pytest.mark.parametrize(("text", "expected"), [
    ("", "1:1: error[JC103]"),
    ("- a\n- b\n", "1:1: error[JC103]"),
    (PASSING.replace("until: +4d", "until: +4d\n    bogus: 1"), "10:5: error[JC101]"),
    (PASSING.replace("until: +4d", "until: [1]"), "9:12: error[JC103]"),
    (PASSING.replace("until: +4d", "until: +4d\n    until: +5d"), "10:5: error[JC004]"),
    (PASSING.replace("at: +3d1h", "at: +1x"), "18:44: error[JC951]: '+1x' is not a time"),
    (PASSING.replace("at: +3d1h", "at: +" + "9" * 400 + "d"), "18:44: error[JC951]"),
    (PASSING.replace("journeys: [welcome]", "journeys: [welcom]"), "1:12: error[JC950]"),
    (PASSING.replace("template: nudge_email", "template: nudge"), "13:49: error[JC950]"),
    (PASSING.replace("step: send_welcome,", "step: send_welcome, channel: sms,"),
     "12:49: error[JC950]: unknown channel 'sms'"),
])
@pytest.mark.e2e
def test_broken_test_files_are_located_errors(new_project: Path, text: str,
                                              expected: str) -> None:
    path = write(new_project, text)
    assert f"{path}:{expected}" in errors_of(run_cli("test", new_project))


@pytest.mark.e2e
def test_a_test_file_that_is_not_utf8_is_a_located_error(new_project: Path) -> None:
    path = write(new_project, PASSING)
    path.write_bytes(path.read_bytes().replace(b"welcome then", b"welc\xff then"))
    assert f"{path}:6:15: error[JC002]" in errors_of(run_cli("test", new_project))


@pytest.mark.e2e
def test_test_profiles_and_identify_events_are_checked_against_the_catalog(
        new_project: Path) -> None:
    path = write(new_project, PASSING.replace(
        "u1: {email: a@example.com, consent: {email: true}}",
        'u1: {email: a@example.com, consent: {email: "yes"}}').replace(
        "  - name: welcome then nudge\n", "  - name: welcome then nudge\n"
        "    profiles:\n      u2: {email: 7}\n").replace(
        "      - {at: +0, user: u1, event: signup}",
        "      - {at: +0, user: u1, event: signup}\n"
        '      - {at: +0, user: u1, event: identify, properties: {consent: {email: "no"}}}'))
    err = errors_of(run_cli("test", new_project))
    assert (f"{path}:4:7: error[JC952]: test profile 'u1': attribute 'consent.email' is text, "
            "the catalog says boolean") in err
    assert "= hint: write it as `profile:` in events.yaml declares it" in err
    assert (f"{path}:8:11: error[JC952]: test profile 'u2': attribute 'email' is a number, "
            "the catalog says string") in err
    assert (f"{path}:11:9: error[JC952]: test event identify: profile attribute "
            "'consent.email' is text, the catalog says boolean") in err


@pytest.mark.e2e
def test_timestamp_attributes_of_test_profiles_are_times_as_in_simulate(
        new_project: Path) -> None:
    events = new_project / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  timezone: string\n", "  timezone: string\n  joined: timestamp\n"), encoding="utf-8")
    journey = new_project / "journeys" / "welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8").replace(
        "trigger:", "audience: 'profile.joined < timestamp(\"2024-03-01T00:00:00Z\")'\n"
        "trigger:"), encoding="utf-8")
    write(new_project, PASSING.replace(
        "u1: {email: a@example.com, consent: {email: true}}",
        'u1: {email: a@example.com, consent: {email: true}, joined: "2024-02-01T00:00:00Z"}\n'
        '  u2: {email: b@example.com, consent: {email: true}, joined: "2024-03-02 10:00"}')
        .replace("      - {at: +0, user: u1, event: signup}\n    until: +4d\n",
                 "      - {at: +0, user: u1, event: signup}\n"
                 "      - {at: +0, user: u2, event: signup}\n    until: +4d\n", 1)
        .replace("      messages:\n", "      no_messages:\n        - {user: u2}\n"
                 "      messages:\n", 1))
    result = run_cli("test", new_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 0 failed" in result.stdout


def test_loaded_test_profiles_are_typed_by_the_catalog(new_project: Path) -> None:
    events = new_project / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  timezone: string\n", "  timezone: string\n  joined: timestamp\n"), encoding="utf-8")
    write(new_project, PASSING.replace("consent: {email: true}}",
                                       'consent: {email: true}, joined: "2024-02-01 09:00"}'))
    project = validate(new_project).project
    assert project is not None
    [loaded] = spec.load_tests(project)
    assert isinstance(loaded, spec.TestFile)
    assert loaded.tests[0].profiles == {"u1": {
        "email": "a@example.com", "consent": {"email": True},
        "joined": dt.datetime(2024, 2, 1, 9, tzinfo=dt.UTC)}}
    write(new_project, PASSING.replace("{email: true}", "{email: 1}"))
    [broken] = spec.load_tests(project)
    assert isinstance(broken, spec.BrokenFile)
    assert [(d.code, d.loc.line, d.message) for d in broken.diagnostics] == [
        ("JC952", 4, "test profile 'u1': attribute 'consent.email' is a number, the catalog "
                     "says boolean")]
