"""`journeyctl test`: run the project's journey tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

from journeyctl.commands.common import valid_project
from journeyctl.errors import EXIT_OK, EXIT_USER
from journeyctl.testing.runner import TestResult, run_tests
from journeyctl.testing.spec import load_tests


def run(project_path: Path, files: list[Path], output_format: str) -> int:
    loaded = valid_project(project_path)
    project = loaded.project
    test_files = load_tests(project, files or None)
    if not test_files:
        print(f"no journey tests in {project.tests_dir} (see docs/testing.md)", file=sys.stderr)
        return EXIT_USER
    results = run_tests(project, test_files)
    if output_format == "json":
        print(to_json(results))
    elif output_format == "junit":
        print(to_junit(results, project.name))
    else:
        print_results(results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_USER


def print_results(results: list[TestResult]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 120
    current = None
    for result in results:
        if result.file != current:
            current = result.file
            console.print(Text(result.file, style="bold"))
        mark, style = ("✓", "green") if result.passed else ("✗", "bold red")
        console.print(Text.assemble(("  " + mark + " ", style), result.name))
        for failure in result.failures:
            console.print(Text("      " + failure.summary, style="red"))
            for line in failure.diff:
                colour = "red" if line.startswith("-") else "green" if line.startswith("+") \
                    else ""
                console.print(Text("        " + line, style=colour))
        for user, lines in result.traces.items():
            console.print(Text(f"      trace of {user}:", style="dim"))
            for line in lines:
                console.print(Text("        " + line, style="dim"))
    failed = sum(1 for r in results if not r.passed)
    summary = f"{len(results) - failed} passed, {failed} failed"
    console.print(Text(summary, style="bold red" if failed else "bold green"))


def to_json(results: list[TestResult]) -> str:
    return json.dumps({
        "schema_version": 1,
        "passed": sum(1 for r in results if r.passed),
        "failed": sum(1 for r in results if not r.passed),
        "tests": [{
            "file": r.file, "name": r.name, "passed": r.passed,
            "seconds": round(r.seconds, 4),
            "failures": [{"what": f.what, "summary": f.summary, "diff": f.diff}
                         for f in r.failures],
            "traces": r.traces,
        } for r in results],
    }, ensure_ascii=False, indent=2)


def to_junit(results: list[TestResult], project: str) -> str:
    suites = ET.Element("testsuites", name=f"journeyctl {project}")
    by_file: dict[str, list[TestResult]] = {}
    for result in results:
        by_file.setdefault(result.file, []).append(result)
    for file, group in by_file.items():
        suite = ET.SubElement(suites, "testsuite", name=file, tests=str(len(group)),
                              failures=str(sum(1 for r in group if not r.passed)),
                              time=f"{sum(r.seconds for r in group):.4f}")
        for result in group:
            case = ET.SubElement(suite, "testcase", classname=file, name=result.name,
                                 time=f"{result.seconds:.4f}")
            if not result.passed:
                failure = ET.SubElement(case, "failure",
                                        message="; ".join(f.summary for f in result.failures))
                body = [line for f in result.failures for line in [f.summary, *f.diff]]
                for user, lines in result.traces.items():
                    body += [f"trace of {user}:", *lines]
                failure.text = "\n".join(body)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
