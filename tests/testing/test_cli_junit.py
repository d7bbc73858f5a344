"""`journeyctl test` reports every test file in every format: a file with errors is an errored
test case (JUnit) or an errored file (JSON, text) and the other files' tests still run; the
report is never empty, and the JUnit XML is well formed whatever the names hold."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from journeyctl.commands.test import to_junit
from journeyctl.diagnostics import Loc, diagnostic
from journeyctl.project import validate
from journeyctl.testing import runner, spec
from journeyctl.testing.runner import Failure, FileResults
from tests.support import journeyctl_command, run_cli

GOOD = """\
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
        - {at: +0, step: send_welcome, template: welcome_email}
        - {at: +3d, step: send_nudge, template: nudge_email}
  - name: "환영 메일 <&> \\"곧\\""
    events:
      - {at: +0, user: u1, event: signup}
    until: +4d
    expect:
      messages:
        - {at: +2d, step: send_nudge, template: nudge_email}
"""
PASSING_NAME, FAILING_NAME = "welcome then nudge", '환영 메일 <&> "곧"'

BAD_TEST = """\
journeys: [welcome]
tests:
  - name: broken
    events:
      - {at: +0, user: u1, event: signup}
    expect:
      messages: []
"""
# Each kind of breakage of tests/b.yaml: (its text, the code and line:col of its first error).
BROKEN = {
    "yaml syntax": ("tests: [\n", "JC003", "2:1"),
    "not utf-8": (None, "JC002", "3:13"),
    "duplicate key": (BAD_TEST.replace("journeys: [welcome]\n", "journeys: [welcome]\n" * 2),
                      "JC004", "2:1"),
    "not a mapping": ("- a\n- b\n", "JC103", "1:1"),
    "unknown key": (BAD_TEST.replace("  - name: broken", "  - name: broken\n    bogus: 1"),
                    "JC101", "4:5"),
    "unknown journey": (BAD_TEST.replace("[welcome]", "[welcom]"), "JC950", "1:12"),
    "draft journey": (BAD_TEST.replace("[welcome]", "[later]"), "JC950", "1:12"),
    "bad time": (BAD_TEST.replace("at: +0", "at: +1x"), "JC951", "5:14"),
    "after until": (BAD_TEST.replace("    expect:", "    until: +0\n    expect:")
                    .replace("at: +0", "at: +1d"), "JC951", "5:14"),
    "event the catalog rejects": (BAD_TEST.replace("event: signup", "event: purchase"),
                                  "JC952", "5:9"),
}


@pytest.fixture
def project(new_project: Path) -> Path:
    """The scaffolded project with a draft journey, one good test file (a test that passes, one
    that fails) and nothing else in tests/."""
    journeys = new_project / "journeys"
    (journeys / "later.yaml").write_text(
        (journeys / "welcome.yaml").read_text(encoding="utf-8")
        .replace("journey: welcome", "journey: later").replace("status: active", "status: draft"),
        encoding="utf-8")
    tests = new_project / "tests"
    tests.mkdir(exist_ok=True)
    for scaffolded in tests.iterdir():  # init writes a test file of its own
        scaffolded.unlink()
    (tests / "a.yaml").write_text(GOOD, encoding="utf-8")
    return new_project


def break_file(project: Path, kind: str) -> Path:
    text, _, _ = BROKEN[kind]
    path = project / "tests" / "b.yaml"
    if text is None:  # not UTF-8
        path.write_bytes(BAD_TEST.replace("broken", "br\xffken").encode("latin-1"))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def junit(result: subprocess.CompletedProcess[str]) -> ET.Element:
    """The JUnit report on stdout, parsed as CI parses it: bytes with their declaration."""
    assert re.match(r"<\?xml version=.1\.0. encoding=.utf-8.\?>\n", result.stdout, re.I), \
        result.stderr
    root = ET.fromstring(result.stdout.encode("utf-8"))
    assert root.tag == "testsuites"
    for suite in root:  # the counts agree with the cases, at both levels
        assert suite.tag == "testsuite"
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors", "")) == len(suite.findall("testcase/error"))
        assert all(c.get("classname") == suite.get("name") and c.get("time") for c in cases)
        float(suite.get("time", ""))
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "")) == sum(int(s.get(key, "")) for s in root)
    return root


def suites(root: ET.Element) -> dict[str, ET.Element]:
    return {Path(s.get("name", "")).name: s for s in root}


def assert_good_file_ran(suite: ET.Element) -> None:
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [PASSING_NAME, FAILING_NAME]
    assert list(cases[PASSING_NAME]) == []
    failure = cases[FAILING_NAME].find("failure")
    assert failure is not None and "messages differ: expected 1, got 2" in (failure.text or "")


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.e2e
def test_junit_reports_the_good_file_and_an_errored_case_for_the_broken_one(
        project: Path, kind: str) -> None:
    path = break_file(project, kind)
    _, code, where = BROKEN[kind]
    result = run_cli("test", project, "--format", "junit")
    assert result.returncode == 1, result.stderr
    root = junit(result)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    by_file = suites(root)
    assert list(by_file) == ["a.yaml", "b.yaml"]
    assert_good_file_ran(by_file["a.yaml"])
    broken = by_file["b.yaml"]
    assert broken.get("name") == str(path)
    error = broken.find("testcase/error")
    assert error is not None and error.get("type") == code
    assert (error.get("message") or "").startswith(f"{path}:{where}")
    assert f"error[{code}]" in (error.text or "") and str(path) in (error.text or "")
    assert "\x1b" not in result.stdout  # no colour codes in the report
    assert f"{path}:{where}" in result.stderr and f"error[{code}]" in result.stderr
    assert "✗ 1 test file has errors: its tests did not run" in result.stderr


@pytest.mark.parametrize("kind", ["yaml syntax", "unknown key", "draft journey", "bad time"])
@pytest.mark.e2e
def test_json_and_text_report_the_broken_file_and_run_the_others(project: Path,
                                                                  kind: str) -> None:
    path = break_file(project, kind)
    code = BROKEN[kind][1]
    result = run_cli("test", project, "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"], report["errored"]) == (1, 1, 1)
    assert [t["name"] for t in report["tests"]] == [PASSING_NAME, FAILING_NAME]
    [errored] = report["errored_files"]
    assert errored["file"] == str(path) and errored["diagnostics"][0]["code"] == code
    assert errored["diagnostics"][0]["file"] == str(path)

    text = run_cli("test", project)
    assert text.returncode == 1
    assert f"✓ {PASSING_NAME}" in text.stdout and f"✗ {FAILING_NAME}" in text.stdout
    assert f"{path}\n  ✗ not run: 1 error ({code})\n" in text.stdout
    assert text.stdout.rstrip().endswith("1 passed, 1 failed, 1 file with errors")
    assert f"error[{code}]" in text.stderr


@pytest.mark.e2e
def test_several_broken_files_each_get_their_case(project: Path) -> None:
    break_file(project, "bad time")
    (project / "tests" / "c.yaml").write_text(BROKEN["unknown journey"][0] or "",
                                              encoding="utf-8")
    result = run_cli("test", project, "--format", "junit")
    assert result.returncode == 1
    root = junit(result)
    assert (root.get("tests"), root.get("errors")) == ("4", "2")
    assert [s.findtext("testcase/error") is not None for s in root] == [False, True, True]
    assert "✗ 2 test files have errors: their tests did not run" in result.stderr


@pytest.mark.e2e
def test_a_missing_file_given_with_file_is_an_errored_case(project: Path) -> None:
    missing = project / "tests" / "gone.yaml"
    result = run_cli("test", project, "--file", missing, "--file", project / "tests" / "a.yaml",
                     "--format", "junit")
    assert result.returncode == 1
    by_file = suites(junit(result))
    assert list(by_file) == ["gone.yaml", "a.yaml"]
    error = by_file["gone.yaml"].find("testcase/error")
    assert error is not None and error.get("type") == "JC001"
    assert_good_file_ran(by_file["a.yaml"])


@pytest.mark.parametrize("output_format", ["junit", "json"])
@pytest.mark.e2e
def test_an_invalid_project_is_one_errored_case(project: Path, output_format: str) -> None:
    settings = project / "journeyctl.yaml"
    settings.write_text(settings.read_text().replace("timezone: UTC", "timezone: Mars/Base"))
    result = run_cli("test", project, "--format", output_format)
    assert result.returncode == 1
    assert "error[JC305]" in result.stderr and "✗ the project is invalid: no test ran" in \
        result.stderr
    if output_format == "json":
        report = json.loads(result.stdout)
        assert (report["passed"], report["failed"], report["errored"]) == (0, 0, 1)
        [errored] = report["errored_files"]
        assert errored["file"] == str(project)
        assert errored["diagnostics"][0]["file"] == str(settings)
        return
    root = junit(result)
    assert (root.get("tests"), root.get("errors")) == ("1", "1")
    [suite] = root
    assert suite.get("name") == str(project)
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "JC305"
    assert (error.get("message") or "").startswith(f"{settings}:3:11: unknown time zone")


@pytest.mark.e2e
def test_no_project_there_is_one_errored_case(tmp_path: Path) -> None:
    result = run_cli("test", tmp_path / "nowhere", "--format", "junit")
    assert result.returncode == 1
    error = junit(result).find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "JC001"
    for output_format in ("text", "junit"):
        empty = run_cli("test", "--format", output_format, cwd=tmp_path)
        assert empty.returncode == 1
        assert "✗ there is no project at .: no test ran" in empty.stderr
        assert "invalid" not in empty.stderr


@pytest.mark.e2e
def test_a_missing_test_file_is_not_found_and_the_others_run(project: Path) -> None:
    result = run_cli("test", "--file", "tests/b.yaml", "--file", "tests/a.yaml", "--format",
                     "junit", cwd=project)
    assert result.returncode == 1
    root = junit(result)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "JC001"
    assert error.get("message") == "tests/b.yaml: tests/b.yaml: file not found"
    text = run_cli("test", "--file", "tests/b.yaml", cwd=project)
    assert "tests/b.yaml: error[JC001]: tests/b.yaml: file not found" in text.stderr
    assert "No such file" not in text.stderr
    assert "= hint: did you mean tests/a.yaml? journeyctl test --file tests/a.yaml" in \
        text.stderr


@pytest.mark.e2e
def test_no_tests_is_an_empty_report_not_an_empty_file(new_project: Path) -> None:
    (new_project / "tests" / "welcome.yaml").unlink()  # the one init writes
    result = run_cli("test", new_project, "--format", "junit")
    assert result.returncode == 1 and "no journey tests in tests/" in result.stderr
    root = junit(result)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")
    assert list(root) == []
    report = json.loads(run_cli("test", new_project, "--format", "json").stdout)
    assert (report["passed"], report["failed"], report["errored"], report["tests"]) == \
        (0, 0, 0, [])


@pytest.mark.e2e
def test_all_passing_is_exit_0(project: Path) -> None:
    path = project / "tests" / "a.yaml"
    path.write_text(GOOD.replace("        - {at: +2d, step: send_nudge, template: nudge_email}\n",
                                 "        - {at: +0, template: welcome_email}\n"
                                 "        - {at: +3d, template: nudge_email}\n"),
                    encoding="utf-8")
    result = run_cli("test", project, "--format", "junit")
    assert result.returncode == 0, result.stdout + result.stderr
    root = junit(result)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "0", "0")


@pytest.mark.e2e
def test_the_xml_is_utf8_whatever_the_locale_says(project: Path) -> None:
    """Korean names stay Korean, and the bytes are the UTF-8 the declaration promises, even
    when Python would print in another encoding."""
    result = subprocess.run(
        [*journeyctl_command(), "test", str(project), "--format", "junit"], capture_output=True,
        timeout=120, env={**os.environ, "PYTHONIOENCODING": "latin-1", "NO_COLOR": "1"})
    assert result.returncode == 1, result.stderr
    root = ET.fromstring(result.stdout)
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == [PASSING_NAME, FAILING_NAME]


@pytest.mark.e2e
def test_characters_xml_cannot_hold_are_escaped(project: Path) -> None:
    path = project / "tests" / "a.yaml"
    path.write_text(GOOD.replace('"환영 메일 <&> \\"곧\\""', '"bell \\a and nul \\0"'),
                    encoding="utf-8")
    result = run_cli("test", project, "--format", "junit")
    names = [c.get("name") for c in junit(result).iter("testcase")]
    assert names == [PASSING_NAME, "bell \\u0007 and nul \\u0000"]


# --- the core --------------------------------------------------------------------------------


def test_load_tests_keeps_every_file_in_order(project: Path) -> None:
    break_file(project, "unknown journey")
    (project / "tests" / "c.yaml").write_text(GOOD, encoding="utf-8")
    loaded = validate(project).project
    assert loaded is not None
    files = spec.load_tests(loaded)
    assert [type(f) for f in files] == [spec.TestFile, spec.BrokenFile, spec.TestFile]
    broken = files[1]
    assert isinstance(broken, spec.BrokenFile) and [d.code for d in broken.diagnostics] == ["JC950"]
    results = runner.run_tests(loaded, files)
    assert [(Path(r.file).name, len(r.results), len(r.errors), r.passed) for r in results] == \
        [("a.yaml", 2, 0, False), ("b.yaml", 0, 1, False), ("c.yaml", 2, 0, False)]


def test_to_junit_counts_and_escapes() -> None:
    error = diagnostic("JC951", "'+1x' is not a time", Loc("t/b.yaml", 5, 14), "e.g. +1d")
    other = diagnostic("JC950", "unknown step 'x'", Loc("t/b.yaml", 9, 3))
    report = to_junit([
        FileResults("t/a.yaml", [
            runner.TestResult("t/a.yaml", "ok ]]> \x1b", [], {}, 0.25),
            runner.TestResult("t/a.yaml", "no", [Failure("messages", "differ <x>", ["- a", "+ b"])],
                       {"u1": ["2024-01-01 00:00  signup"]}, 0.5)]),
        FileResults("t/b.yaml", errors=[error, other]),
    ], "프로젝트")
    root = ET.fromstring(report)
    assert root.get("name") == "journeyctl 프로젝트"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("time")) == \
        ("3", "1", "1", "0.7500")
    a, b = root
    assert [c.get("name") for c in a] == ["ok ]]> \\u001b", "no"]
    assert a.findtext("testcase/failure") == \
        "differ <x>\n- a\n+ b\ntrace of u1:\n2024-01-01 00:00  signup"
    assert a[1].find("failure").get("message") == "differ <x>"  # type: ignore[union-attr]
    assert (b.get("tests"), b.get("errors"), b.get("failures")) == ("1", "1", "0")
    case = b.find("testcase")
    assert case is not None and (case.get("classname"), case.get("name")) == ("t/b.yaml", "load")
    err = case.find("error")
    assert err is not None and err.get("type") == "JC951"
    assert err.get("message") == "t/b.yaml:5:14: '+1x' is not a time (and 1 more)"
    assert err.text == ("t/b.yaml:5:14: error[JC951]: '+1x' is not a time\n  = hint: e.g. +1d\n\n"
                        "t/b.yaml:9:3: error[JC950]: unknown step 'x'")
