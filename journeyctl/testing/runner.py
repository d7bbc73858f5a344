"""Running journey tests and comparing what happened with what was expected."""

from __future__ import annotations

import datetime as dt
import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from journeyctl import model as m
from journeyctl.diagnostics import Diagnostic
from journeyctl.engine import effects as fx
from journeyctl.testing.scenario import Outcome, ScenarioEvent, run_scenario
from journeyctl.testing.spec import BrokenFile, JourneyTest, Pattern, TestFile
from journeyctl.timeparse import zone

Expectation = Literal["messages", "no_messages", "conversions", "exits", "steps"]


@dataclass
class Failure:
    what: Expectation
    summary: str
    diff: list[str] = field(default_factory=list)


@dataclass
class TestResult:
    file: str
    name: str
    failures: list[Failure]
    traces: dict[str, list[str]]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class FileResults:
    """One test file's outcome: its tests' results, or the errors that kept them from running
    (the project's own errors are reported the same way, as one more file)."""

    file: str
    results: list[TestResult] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(r.passed for r in self.results)


def run_tests(project: m.Project, files: list[TestFile | BrokenFile]) -> list[FileResults]:
    """Every file's tests, in order; a broken file reports its errors and the rest still run."""
    return [FileResults(f.path, errors=f.diagnostics) if isinstance(f, BrokenFile) else
            FileResults(f.path, [_run(project, f, test) for test in f.tests]) for f in files]


def _run(project: m.Project, test_file: TestFile, test: JourneyTest) -> TestResult:
    began = time.perf_counter()
    events = [ScenarioEvent(e.user, e.name, e.at, e.properties,
                            e.event_id or f"test-{i}") for i, e in enumerate(test.events)]
    outcome = run_scenario(project, test.profiles, events, test.until, test_file.start,
                           test_file.journeys)
    failures = compare(test, outcome, test_file.start)
    users = sorted({p.fields["user"] for group in _groups(test) for p in group
                    if "user" in p.fields} | {e.user for e in test.events})
    traces = {u: trace_lines(outcome, u, project) for u in users} if failures else {}
    return TestResult(test_file.path, test.name, failures, traces, time.perf_counter() - began)


def _groups(test: JourneyTest) -> list[list[Pattern]]:
    e = test.expect
    return [e.messages or [], e.no_messages, e.conversions or [], e.exits or [], e.steps]


# --- comparing -------------------------------------------------------------------------------


def _value(effect: Any, key: str) -> Any:
    if key == "user":
        return effect.user_id
    return getattr(effect, key, None)


def _matches(pattern: Pattern, effect: Any) -> bool:
    if pattern.at is not None and abs(effect.time - pattern.at) > 1e-6:
        return False
    for key, expected in pattern.fields.items():
        actual = _value(effect, key)
        if isinstance(expected, int | float) and isinstance(actual, int | float):
            if abs(actual - expected) > 1e-9:
                return False
        elif actual != expected:
            return False
    return True


def compare(test: JourneyTest, outcome: Outcome, start: float) -> list[Failure]:
    failures = []
    expect = test.expect
    exact: list[tuple[Expectation, list[Pattern] | None, Sequence[Any], tuple[str, ...]]] = [
        ("messages", expect.messages, outcome.sends,
         ("user", "journey", "step", "channel", "template")),
        ("conversions", expect.conversions, outcome.of(fx.Converted),
         ("user", "journey", "value")),
        ("exits", expect.exits, outcome.of(fx.Exited), ("user", "journey", "reason"))]
    for what, patterns, actual, shown in exact:
        if patterns is not None:
            failure = _exact(what, patterns, actual, shown, start)
            if failure:
                failures.append(failure)
    for pattern in expect.no_messages:
        hits = [e for e in outcome.sends if _matches(pattern, e)]
        if hits:
            failures.append(Failure("no_messages", f"{len(hits)} message(s) match a pattern "
                                    f"that no message may match ({_pattern_text(pattern)})",
                                    [f"+ {_line(e, _keys(pattern), start)}" for e in hits]))
    for pattern in expect.steps:
        fields = pattern.fields
        at = pattern.at if pattern.at is not None else start
        actual_step = outcome.step_at(fields["user"], fields["journey"], at)
        if actual_step != fields["step"]:
            failures.append(Failure(
                "steps", f"at {relative(at, start)} {fields['user']} is "
                f"{_where(actual_step)} of {fields['journey']}, expected {_where(fields['step'])}"))
    return failures


def _where(step: str | None) -> str:
    return "not in" if step is None else f"at step {step}"


def _keys(pattern: Pattern) -> list[str]:
    return (["at"] if pattern.at is not None else []) + list(pattern.fields)


def _exact(what: Expectation, patterns: list[Pattern], actual: Sequence[Any],
           shown: tuple[str, ...], start: float) -> Failure | None:
    if len(patterns) == len(actual) and all(
            _matches(p, e) for p, e in zip(patterns, actual, strict=True)):
        return None
    keys = ["at", *dict.fromkeys(k for p in patterns for k in p.fields)] if patterns else \
        ["at", *shown]
    expected_lines = []
    for index, pattern in enumerate(patterns):
        if index < len(actual) and _matches(pattern, actual[index]):
            expected_lines.append(_line(actual[index], keys, start))
        else:
            expected_lines.append(_pattern_line(pattern, keys, start))
    actual_lines = [_line(e, keys, start) for e in actual]
    diff = [line for line in difflib.ndiff(expected_lines, actual_lines)
            if not line.startswith("?")]
    summary = f"{what} differ: expected {len(patterns)}, got {len(actual)} (- expected, + actual)"
    return Failure(what, summary, diff)


def _format(key: str, value: Any, start: float) -> str:
    if value is None:  # an expected message without `at`; a message without a variant
        return "*" if key == "at" else "null"
    if key == "at":
        return relative(value, start)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _line(effect: Any, keys: list[str], start: float) -> str:
    return "  ".join(_format(k, effect.time if k == "at" else _value(effect, k), start)
                     for k in keys)


def _pattern_line(pattern: Pattern, keys: list[str], start: float) -> str:
    return "  ".join("*" if k != "at" and k not in pattern.fields else  # any value
                     _format(k, pattern.at if k == "at" else pattern.fields[k], start)
                     for k in keys)


def _pattern_text(pattern: Pattern) -> str:
    parts = [f"{k}={v}" for k, v in pattern.fields.items()]
    return ", ".join(parts) or "any message"


def relative(t: float, start: float) -> str:
    """Seconds after start as +1d2h3m (or -...)."""
    delta = round(t - start)
    sign = "+" if delta >= 0 else "-"
    delta = abs(delta)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if delta >= size:
            parts.append(f"{delta // size}{unit}")
            delta %= size
    return sign + ("".join(parts) or "0")


def trace_lines(outcome: Outcome, user: str, project: m.Project) -> list[str]:
    trace = outcome.traces.get(user)
    if trace is None:
        return []
    tz = zone(project.timezone)
    return [f"{dt.datetime.fromtimestamp(line.time, tz):%Y-%m-%d %H:%M}  "
            f"{line.journey + '  ' if line.journey else ''}{line.text}"
            for line in trace.lines]

