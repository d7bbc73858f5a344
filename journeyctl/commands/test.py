"""`journeyctl test`: run the project's journey tests.

Every format reports every test file: a file with errors (or an invalid project) is reported as
errored and the other files' tests still run, so a CI report is never empty or half-written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from journeyctl import model as m
from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.commands.common import project_errors
from journeyctl.commands.rerun import validate_here, with_word_replaced
from journeyctl.diagnostics import Diagnostic, JourneyctlError, Loc, diagnostic
from journeyctl.diagnostics_render import diagnostic_json, plain_text, print_text
from journeyctl.hints import close_path
from journeyctl.project import YAML_SUFFIXES, Loaded, display_path
from journeyctl.testing.runner import FileResults, TestResult, run_tests
from journeyctl.testing.spec import BrokenFile, load_tests

if TYPE_CHECKING:
    from rich.console import Console

ERRORED_CASE = "load"  # the JUnit test case that stands for a file (or project) with errors


def run(project_path: Path, files: list[Path], output_format: str) -> int:
    try:
        loaded = validate_here(project_path)
    except JourneyctlError as exc:  # no project there: reported like an invalid one
        loaded = Loaded(None, {}, exc.diagnostics)
        errors: list[Diagnostic] | None = exc.diagnostics
        print_text(exc.diagnostics, {}, sys.stderr,
                   f"✗ there is no project at {display_path(project_path)}: no test ran")
    else:
        errors = project_errors(loaded, "no test ran")
    if errors is None and loaded.project is not None:
        suites = _run_files(loaded.project, files)
        name = loaded.project.name
    else:
        suites = [FileResults(display_path(project_path), errors=errors or [])]
        name = project_path.resolve().name
    if output_format == "json":
        print(to_json(suites))
    elif output_format == "junit":
        sys.stdout.flush()  # bytes: UTF-8, as the XML declares, whatever the locale
        sys.stdout.buffer.write(to_junit(suites, name))
        sys.stdout.buffer.flush()
    elif suites and errors is None:
        print_results(suites)
    return EXIT_OK if suites and all(s.passed for s in suites) else EXIT_USER


def _run_files(project: m.Project, files: list[Path]) -> list[FileResults]:
    """The tests of every file that loads; the located errors of the others on stderr."""
    test_files = [test for path in files for test in (
        load_tests(project, [path]) if path.exists() else [_not_found(path, project)])
    ] if files else load_tests(project)
    if not test_files:
        print(f"no journey tests in {project.tests_dir} (see docs/testing.md)", file=sys.stderr)
        return []
    broken = [f for f in test_files if isinstance(f, BrokenFile)]
    if broken:
        many = len(broken) > 1
        print_text([d for f in broken for d in f.diagnostics], {}, sys.stderr,
                   f"✗ {len(broken)} test file{'s have' if many else ' has'} errors: "
                   f"{'their' if many else 'its'} tests did not run")
    return run_tests(project, test_files)


def _not_found(path: Path, project: m.Project) -> BrokenFile:
    """A `--file` that is not there: errored like a broken file, with the close test file."""
    shown = display_path(path)
    near = close_path(path, lambda p: p.is_file() and p.suffix in YAML_SUFFIXES)
    again = with_word_replaced(path, display_path(near)) if near else None
    hint = (f"did you mean {display_path(near)}?" + (f" {again}" if again else "")) if near \
        else f"give the path of a test file (the project's are in {project.tests_dir})"
    return BrokenFile(shown, [diagnostic("JC001", f"{shown}: file not found", Loc(shown, 0, 0),
                                         hint)])


def print_results(suites: list[FileResults]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 120
    for suite in suites:
        console.print(Text(suite.file, style="bold"))
        if suite.errors:
            codes = ", ".join(dict.fromkeys(d.code for d in _errors(suite)))
            console.print(Text.assemble(("  ✗ ", "bold red"),
                                        f"not run: {_count(suite)} ({codes})"))
        for result in suite.results:
            _print_result(console, result)
    results = [r for s in suites for r in s.results]
    failed = sum(1 for r in results if not r.passed)
    broken = sum(1 for s in suites if s.errors)
    summary = f"{len(results) - failed} passed, {failed} failed"
    if broken:
        summary += f", {broken} file{'s' if broken > 1 else ''} with errors"
    console.print(Text(summary, style="bold red" if failed or broken else "bold green"))


def _print_result(console: Console, result: TestResult) -> None:
    from rich.text import Text

    mark, style = ("✓", "green") if result.passed else ("✗", "bold red")
    console.print(Text.assemble(("  " + mark + " ", style), result.name))
    for failure in result.failures:
        console.print(Text("      " + failure.summary, style="red"))
        for line in failure.diff:
            colour = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
            console.print(Text("        " + line, style=colour))
    for user, lines in result.traces.items():
        console.print(Text(f"      trace of {user}:", style="dim"))
        for line in lines:
            console.print(Text("        " + line, style="dim"))


def _errors(suite: FileResults) -> list[Diagnostic]:
    return [d for d in suite.errors if d.is_error]


def _count(suite: FileResults) -> str:
    n = len(_errors(suite))
    return f"{n} error{'s' if n != 1 else ''}"


def to_json(suites: list[FileResults]) -> str:
    results = [r for s in suites for r in s.results]
    broken = [s for s in suites if s.errors]
    return json.dumps({
        "schema_version": 1,
        "passed": sum(1 for r in results if r.passed),
        "failed": sum(1 for r in results if not r.passed),
        "errored": len(broken),
        "tests": [{
            "file": r.file, "name": r.name, "passed": r.passed,
            "seconds": round(r.seconds, 4),
            "failures": [{"what": f.what, "summary": f.summary, "diff": f.diff}
                         for f in r.failures],
            "traces": r.traces,
        } for r in results],
        "errored_files": [{"file": s.file, "diagnostics": [diagnostic_json(d) for d in s.errors]}
                          for s in broken],
    }, ensure_ascii=False, indent=2)


# Characters XML 1.0 cannot hold, even as references; a YAML string may ("\x01" in quotes).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_junit(suites: list[FileResults], project: str) -> bytes:
    """JUnit XML as GitHub's and GitLab's reporters read it: testsuites > a testsuite per file >
    testcase > failure | error; a file with errors is one errored test case."""
    root = ET.Element("testsuites", name=f"journeyctl {project}")
    for suite in suites:
        _junit_suite(root, suite)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
    root.set("time", f"{sum(float(s.get('time', '0')) for s in root):.4f}")
    ET.indent(root)
    text = _NOT_XML.sub(lambda c: f"\\u{ord(c[0]):04x}", ET.tostring(root, encoding="unicode"))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()


def _junit_suite(root: ET.Element, suite: FileResults) -> None:
    results = suite.results
    node = ET.SubElement(root, "testsuite", name=suite.file,
                         tests=str(len(results) + (1 if suite.errors else 0)),
                         failures=str(sum(1 for r in results if not r.passed)),
                         errors=str(1 if suite.errors else 0),
                         time=f"{sum(r.seconds for r in results):.4f}")
    if suite.errors:
        case = ET.SubElement(node, "testcase", classname=suite.file, name=ERRORED_CASE,
                             time="0.0000")
        errors = _errors(suite)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        error = ET.SubElement(case, "error", type=first.code,
                              message=f"{first.loc}: {first.message}{more}")
        error.text = plain_text(suite.errors, {})
    for result in results:
        case = ET.SubElement(node, "testcase", classname=suite.file, name=result.name,
                             time=f"{result.seconds:.4f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure",
                                    message="; ".join(f.summary for f in result.failures))
            body = [line for f in result.failures for line in [f.summary, *f.diff]]
            for user, lines in result.traces.items():
                body += [f"trace of {user}:", *lines]
            failure.text = "\n".join(body)
