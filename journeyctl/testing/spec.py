"""Journey test files (`tests/*.yaml` in a project): loaded, checked, and turned into values.

Times are written relative to the file's `start` (`+6h`, `+1d12h`, `+0`) or absolute. Names in
expectations (journeys, steps, channels, templates) are checked against the project, so a typo
in a test fails as a located error instead of as a mysterious mismatch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl import schema
from journeyctl.diagnostics import Collector, JourneyctlError, Loc
from journeyctl.project import YAML_SUFFIXES, display_path
from journeyctl.sim.readers import TimeParser, check_properties
from journeyctl.timeparse import parse_duration, zone
from journeyctl.yamlload import Doc, DocPath, load_file

DEFAULT_START = "2024-01-01T00:00:00"


@dataclass(frozen=True)
class Pattern:
    """An expectation: the fields it gives must match; `at` is epoch seconds."""

    fields: dict[str, Any]
    loc: Loc
    at: float | None = None


@dataclass(frozen=True)
class TestEvent:
    at: float
    user: str
    name: str
    properties: dict[str, Any]
    event_id: str | None
    loc: Loc


@dataclass
class Expect:
    messages: list[Pattern] | None = None
    no_messages: list[Pattern] = field(default_factory=list)
    conversions: list[Pattern] | None = None
    exits: list[Pattern] | None = None
    steps: list[Pattern] = field(default_factory=list)


@dataclass
class JourneyTest:
    name: str
    loc: Loc
    profiles: dict[str, dict[str, Any]]
    events: list[TestEvent]
    until: float
    expect: Expect


@dataclass
class TestFile:
    path: str
    start: float
    journeys: set[str] | None
    tests: list[JourneyTest]


class _Reader:
    def __init__(self, doc: Doc, project: m.Project, out: Collector) -> None:
        self.doc, self.project, self.out = doc, project, out
        self.tz: ZoneInfo = zone(project.timezone) or ZoneInfo("UTC")
        self.parse_time = TimeParser(self.tz)
        self.start = 0.0

    def time(self, value: Any, path: DocPath) -> float:
        if value == 0 and isinstance(value, int):  # `+0` reads as the number 0 in YAML
            return self.start
        text = str(value).strip()
        if text.startswith("+"):
            if text == "+0":
                return self.start
            duration = parse_duration(text[1:])
            if duration is not None:
                return self.start + duration.seconds
        else:
            try:
                parsed = dt.datetime.fromisoformat(text)
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=self.tz)
                return parsed.timestamp()
            except ValueError:
                pass
        self.out.add("JC951", f"{text!r} is not a time", self.doc.loc(path))
        return self.start

    def name(self, kind: str, value: str, known: Any, path: DocPath) -> None:
        if value not in known:
            from journeyctl.checks.context import did_you_mean

            self.out.add("JC950", f"unknown {kind} '{value}'", self.doc.loc(path),
                         did_you_mean(value, known, f"{kind}s"))


def load_tests(project: m.Project, paths: list[Path] | None = None) -> list[TestFile]:
    """The project's test files (or `paths`); raises JourneyctlError listing every problem."""
    files = paths if paths is not None else _test_files(project)
    out = Collector()
    loaded = []
    for path in files:
        try:
            doc = load_file(path, display_path(path))
        except JourneyctlError as exc:
            out.extend(exc.diagnostics)
            continue
        if not isinstance(doc.data, dict):
            out.add("JC103", f"{doc.file} must hold a mapping with `tests:`", doc.loc())
            continue
        problems = schema.check(doc, "test")
        out.extend(problems)
        if not any(d.is_error for d in problems):
            loaded.append(_test_file(doc, project, out))
    if out.has_errors:
        raise JourneyctlError(out.sorted())
    return loaded


def _test_files(project: m.Project) -> list[Path]:
    folder = project.root / project.tests_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def _test_file(doc: Doc, project: m.Project, out: Collector) -> TestFile:
    r = _Reader(doc, project, out)
    raw = doc.data
    r.start = 0.0
    r.start = r.time(raw.get("start", DEFAULT_START), ("start",))
    journeys = raw.get("journeys")
    for i, name in enumerate(journeys or []):
        r.name("journey", name, [j.id for j in project.journeys], ("journeys", i))
    shared = raw.get("profiles", {})
    tests = [_test(r, t, ("tests", i), shared) for i, t in enumerate(raw["tests"])]
    return TestFile(doc.file, r.start, set(journeys) if journeys else None, tests)


def _test(r: _Reader, raw: dict[str, Any], path: DocPath, shared: dict[str, Any]
          ) -> JourneyTest:
    events = [
        TestEvent(r.time(e["at"], (*path, "events", i, "at")), e["user"], e["event"],
                  e.get("properties", {}), e.get("event_id"), r.doc.loc((*path, "events", i)))
        for i, e in enumerate(raw.get("events", []))
    ]
    for event in events:  # test events meet the same catalog checks as any input
        checked = check_properties(r.project.catalog, event.name, event.properties, r.parse_time)
        if isinstance(checked, str):
            r.out.add("JC952", f"test event {event.name}: {checked}", event.loc)
    expect_raw = raw["expect"]
    expect = Expect(
        messages=_patterns(r, expect_raw, "messages", path),
        no_messages=_patterns(r, expect_raw, "no_messages", path) or [],
        conversions=_patterns(r, expect_raw, "conversions", path),
        exits=_patterns(r, expect_raw, "exits", path),
        steps=_patterns(r, expect_raw, "steps", path) or [],
    )
    times = [e.at for e in events] + [p.at for group in (
        expect.messages, expect.no_messages, expect.conversions, expect.exits, expect.steps)
        for p in group or [] if p.at is not None]
    until = r.time(raw["until"], (*path, "until")) if "until" in raw else max(times,
                                                                               default=r.start)
    return JourneyTest(raw["name"], r.doc.loc((*path, "name")), {**shared,
                       **raw.get("profiles", {})}, events, until, expect)


def _patterns(r: _Reader, expect: dict[str, Any], key: str, path: DocPath
              ) -> list[Pattern] | None:
    if key not in expect:
        return None
    patterns = []
    for i, item in enumerate(expect[key]):
        where = (*path, "expect", key, i)
        fields = {k: v for k, v in item.items() if k != "at"}
        _check_names(r, fields, where)
        at = r.time(item["at"], (*where, "at")) if "at" in item else None
        patterns.append(Pattern(fields, r.doc.loc(where), at))
    return patterns


def _check_names(r: _Reader, fields: dict[str, Any], where: DocPath) -> None:
    project = r.project
    journey = project.journey(fields["journey"]) if "journey" in fields else None
    if "journey" in fields:
        r.name("journey", fields["journey"], [j.id for j in project.journeys],
               (*where, "journey"))
    if "channel" in fields:
        r.name("channel", fields["channel"], project.channels, (*where, "channel"))
    if "template" in fields:
        r.name("template", fields["template"], project.templates, (*where, "template"))
    if fields.get("step") is not None:
        steps = journey.step_index if journey else {s.id for j in project.journeys
                                                    for s in j.steps}
        r.name("step", fields["step"], steps, (*where, "step"))
