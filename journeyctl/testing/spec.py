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
from journeyctl.checks.context import did_you_mean
from journeyctl.diagnostics import Collector, Diagnostic, JourneyctlError, Loc
from journeyctl.paths import (
    display_path,
    files_below,
    link_problem,
    named_problem,
    setting_problem,
)
from journeyctl.project import PATH_EXAMPLES, YAML_SUFFIXES
from journeyctl.records import TimeParser, event_properties, parse_profile
from journeyctl.timeparse import parse_duration, zone
from journeyctl.yamlload import Doc, DocPath, load_file

DEFAULT_START = "2024-01-01T00:00:00"
# Test times the simulator can run: a year before datetime's end leaves room for waits and for
# times shown in any zone (later ones crash converting back to dates).
EARLIEST = 0.0
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC).timestamp()


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
        self.parse_time = TimeParser(zone(project.timezone) or ZoneInfo("UTC"))
        self.start = 0.0
        self.seen: list[tuple[float, str, DocPath]] = []  # the current test's valid times

    def time(self, value: Any, path: DocPath, relative: bool = True) -> float:
        """Epoch seconds of a test time: `+6h` after `start` (when `relative`), or absolute as
        event files write it (RFC 3339; naive means the project zone)."""
        text = "+0" if value == 0 and type(value) is int else str(value).strip()  # YAML: +0 is 0
        seconds = self._seconds(text)
        if seconds is None:
            problem, hint = f"{text!r} is not a time", None
        elif not relative and text.startswith("+"):
            problem, hint = (f"`start` must be an absolute time, not {text!r}",
                             'e.g. start: "2024-03-04T10:00:00+09:00"')
        elif not EARLIEST <= seconds < LATEST:
            problem, hint = (f"{text!r} is outside the years 1970 to 9998 that tests simulate",
                             "pick a time in those years")
        else:
            self.seen.append((seconds, text, path))
            return seconds
        self.out.add("JC951", problem, self.doc.loc(path), hint)
        return self.start

    def _seconds(self, text: str) -> float | None:
        try:
            if text.startswith("+"):
                duration = parse_duration(text[1:])
                return self.start + duration.seconds if duration else \
                    (self.start if text == "+0" else None)
            return self.parse_time(text)
        except (ValueError, OverflowError):  # not a time; a number too large for a float
            return None

    def name(self, kind: str, value: str, known: Any, path: DocPath) -> None:
        if value not in known:
            self.out.add("JC950", f"unknown {kind} '{value}'", self.doc.loc(path),
                         did_you_mean(value, known, f"{kind}s") or f"there is no {kind} to name")

    def journey(self, value: str, path: DocPath) -> m.Journey | None:
        """The journey a test names. A draft is an error too: drafts never run (not in the
        daemon, so not in tests), and expectations about one could only fail."""
        journey = self.project.journey(value)
        if journey is None:
            self.name("journey", value, [j.id for j in self.project.journeys], path)
        elif journey.status == "draft":
            self.out.add("JC950", f"journey '{value}' is a draft; drafts never run",
                         self.doc.loc(path), "set `status: active` in its file to test it")
        return journey


@dataclass(frozen=True)
class BrokenFile:
    """A test file with errors: every problem in it, located. None of its tests run; the other
    files' tests still do."""

    path: str
    diagnostics: list[Diagnostic]


def load_tests(project: m.Project, paths: list[Path] | None = None
               ) -> list[TestFile | BrokenFile]:
    """The project's test files (or `paths`, given on the command line: they may be anywhere,
    but not lead out of the project from inside it), in order, each loaded or broken."""
    if paths is not None:
        return [_named(project, path) for path in paths]
    files, outside = _test_files(project)
    found = [*(_load(project, path) for path in files), *outside]
    return sorted(found, key=lambda f: Path(f.path))


def _named(project: m.Project, path: Path) -> TestFile | BrokenFile:
    problem = named_problem(project.root, path)
    if problem is not None:
        return BrokenFile(problem.loc.file, [problem])
    return _load(project, path)


def _load(project: m.Project, path: Path) -> TestFile | BrokenFile:
    try:
        doc = load_file(path, display_path(path))
    except JourneyctlError as exc:
        return BrokenFile(display_path(path), exc.diagnostics)
    out = Collector()
    if not isinstance(doc.data, dict):
        out.add("JC103", f"{doc.file} must hold a mapping with `tests:`", doc.loc())
    else:
        out.extend(schema.check(doc, "test"))
    loaded = None if out.has_errors else _test_file(doc, project, out)  # reads a valid tree
    return loaded if loaded and not out.has_errors else BrokenFile(doc.file, out.sorted())


def _test_files(project: m.Project) -> tuple[list[Path], list[BrokenFile]]:
    """The YAML files below the tests folder, and a broken file for each link there that
    leads out of the project (never read). `validate` reports a `tests:` setting leading out,
    and `journeyctl test` validates first; it is judged here again so that no caller of
    `load_tests` can read outside the project."""
    root = project.root
    problem = setting_problem(root, "tests", project.tests_dir, project.at("tests"),
                              PATH_EXAMPLES["tests"])
    if problem is not None:
        return [], [BrokenFile(problem.loc.file, [problem])]
    folder = root / project.tests_dir
    if not folder.is_dir():
        return [], []
    files, outside = files_below(root, folder, YAML_SUFFIXES)
    return files, [BrokenFile(display_path(link), [link_problem(link)]) for link in outside]


def _test_file(doc: Doc, project: m.Project, out: Collector) -> TestFile:
    r = _Reader(doc, project, out)
    raw = doc.data
    r.start = r.time(raw.get("start", DEFAULT_START), ("start",), relative=False)
    journeys = raw.get("journeys")
    for i, name in enumerate(journeys or []):
        r.journey(name, ("journeys", i))
    shared = _profiles(r, raw.get("profiles", {}), ())
    tests = [_test(r, t, ("tests", i), shared) for i, t in enumerate(raw["tests"])]
    return TestFile(doc.file, r.start, set(journeys) if journeys else None, tests)


def _test(r: _Reader, raw: dict[str, Any], path: DocPath, shared: dict[str, Any]
          ) -> JourneyTest:
    r.seen = []
    events = [
        TestEvent(r.time(e["at"], (*path, "events", i, "at")), e["user"], e["event"],
                  e.get("properties", {}), e.get("event_id"), r.doc.loc((*path, "events", i)))
        for i, e in enumerate(raw.get("events", []))
    ]
    for event in events:  # test events meet the same catalog checks as any input
        checked = event_properties(r.project.catalog, event.name, event.properties, r.parse_time)
        if isinstance(checked, str):
            r.out.add("JC952", f"test event {event.name}: {checked}", event.loc)
    own = _profiles(r, raw.get("profiles", {}), path)
    expect_raw = raw["expect"]
    expect = Expect(
        messages=_patterns(r, expect_raw, "messages", path),
        no_messages=_patterns(r, expect_raw, "no_messages", path) or [],
        conversions=_patterns(r, expect_raw, "conversions", path),
        exits=_patterns(r, expect_raw, "exits", path),
        steps=_patterns(r, expect_raw, "steps", path) or [],
    )
    mentioned = list(r.seen)  # every valid time of the test
    until = max((seconds for seconds, _, _ in mentioned), default=r.start)
    if "until" in raw:
        until = r.time(raw["until"], (*path, "until"))
        valid = len(r.seen) > len(mentioned)
        for seconds, text, where in mentioned if valid else []:  # the run stops at `until`
            if seconds > until:
                r.out.add("JC951", f"{text!r} is after this test's `until`: nothing happens "
                          "then", r.doc.loc(where), "move `until` later, or leave it out (it "
                          "defaults to the latest time the test mentions)")
    return JourneyTest(raw["name"], r.doc.loc((*path, "name")), {**shared, **own}, events,
                       until, expect)


def _profiles(r: _Reader, raw: dict[str, dict[str, Any]], path: DocPath
              ) -> dict[str, dict[str, Any]]:
    """The `profiles:` at `path` checked against the catalog as profile files are (a wrong
    type is JC952; timestamps become datetimes), by user."""
    profiles = {}
    for user, attributes in raw.items():
        checked = parse_profile({**attributes, "user_id": user}, r.project.catalog, r.parse_time)
        if isinstance(checked, str):
            r.out.add("JC952", f"test profile '{user}': {checked}",
                      r.doc.loc((*path, "profiles", user)),
                      f"write it as `profile:` in {r.project.events_file} declares it")
        else:
            profiles[user] = checked.attributes
    return profiles


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
    journey = r.journey(fields["journey"], (*where, "journey")) if "journey" in fields else None
    if "channel" in fields:
        r.name("channel", fields["channel"], project.channels, (*where, "channel"))
    if "template" in fields:
        r.name("template", fields["template"], project.templates, (*where, "template"))
    if fields.get("step") is not None:
        steps = journey.step_index if journey else {s.id for j in project.journeys
                                                    for s in j.steps}
        r.name("step", fields["step"], steps, (*where, "step"))
    if fields.get("variant") is not None:  # "<split step>=<variant>", several joined by ","
        variants = {f"{s.id}={v.name}" for j in ([journey] if journey else project.journeys)
                    for s in j.steps if isinstance(s.action, m.Split) for v in s.action.variants}
        for pair in str(fields["variant"]).split(","):
            r.name("variant", pair, variants, (*where, "variant"))
