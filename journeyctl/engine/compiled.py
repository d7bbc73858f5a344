"""A project prepared for running: journeys indexed by the events they care about, each step's
outgoing edges (from `journeyctl.flow`, so the engine and the diagrams agree), and the windows
that bound per-user history. Built once per run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl.celenv import NAMESPACED, CountCall, parse_count
from journeyctl.celref import references
from journeyctl.flow import Edge, edges
from journeyctl.timeparse import zone


@dataclass
class CompiledJourney:
    journey: m.Journey
    version: int
    steps: dict[str, m.Step]
    edges: dict[str, list[Edge]]  # step id -> outgoing edges, in `flow.edges` order
    first: str
    goal_events: frozenset[str]
    exit_on: dict[str, list[m.ExitOn]]
    goal_window: float  # seconds; 0 without a goal

    @property
    def id(self) -> str:
        return self.journey.id


@dataclass
class Compiled:
    project: m.Project
    tz: ZoneInfo
    journeys: list[CompiledJourney]  # running journeys (not drafts), ordered by id
    by_id: dict[str, CompiledJourney]  # the latest version of each: it takes new entries
    # every version some instance may still be on, the latest included
    versions: dict[tuple[str, int], CompiledJourney]
    by_event: dict[str, list[str]]  # event name -> ids of journeys it concerns, in id order
    inactive: list[tuple[CompiledJourney, frozenset[str] | None]]
    schedules: list[CompiledJourney]
    count_windows: dict[str, float] = field(default_factory=dict)  # event -> longest window
    lookbacks: frozenset[str] = frozenset()  # event names some wait_for looks back for
    cap_window: float = 0.0  # the longest cap window, project and journeys
    kr: bool = False


def compile_project(project: m.Project, only: set[str] | None = None,
                    versions: Mapping[str, int] | None = None,
                    older: Sequence[tuple[m.Journey, int]] = ()) -> Compiled:
    """`only`: limit the run to these journey ids (drafts never run). The daemon also passes
    the version number of each journey (`versions`) and the older versions some instances are
    still on (`older`): those instances finish on their own version."""
    versions = versions or {}
    chosen = sorted((j for j in project.journeys if j.status != "draft"
                     and (only is None or j.id in only)), key=lambda j: j.id)
    journeys = [_compile_journey(j, versions.get(j.id, 1)) for j in chosen]
    every = {(cj.id, cj.version): cj for cj in journeys}
    every.update({(j.id, v): _compile_journey(j, v) for j, v in older
                  if (j.id, v) not in every})
    interested: dict[str, set[str]] = defaultdict(set)
    for cj in every.values():
        for name in _events_of(cj.journey):
            interested[name].add(cj.id)
    by_event = {name: sorted(ids) for name, ids in interested.items()}
    # older versions' caps too: their instances still send, and the history must cover them
    caps = [*project.caps, *(c for cj in every.values() for c in cj.journey.caps)]
    return Compiled(
        project=project,
        tz=zone(project.timezone) or ZoneInfo("UTC"),
        journeys=journeys,
        by_id={cj.id: cj for cj in journeys},
        versions=every,
        by_event=by_event,
        inactive=[(cj, frozenset(cj.journey.trigger.events) if cj.journey.trigger.events
                   else None) for cj in journeys
                  if isinstance(cj.journey.trigger, m.InactiveTrigger)],
        schedules=[cj for cj in journeys if isinstance(cj.journey.trigger, m.ScheduleTrigger)],
        count_windows=_count_windows([cj.journey for cj in every.values()]),
        lookbacks=frozenset(s.action.event for cj in every.values() for s in cj.journey.steps
                            if isinstance(s.action, m.WaitFor) and s.action.lookback),
        cap_window=max((c.per.seconds for c in caps), default=0),
        kr="kr" in project.compliance,
    )


def _compile_journey(journey: m.Journey, version: int) -> CompiledJourney:
    exit_on: dict[str, list[m.ExitOn]] = defaultdict(list)
    for rule in journey.exit_on:
        exit_on[rule.event].append(rule)
    goal = journey.goal
    return CompiledJourney(
        journey=journey,
        version=version,
        steps={s.id: s for s in journey.steps},
        edges={s.id: list(edges(journey, s)) for s in journey.steps},
        first=journey.steps[0].id,
        goal_events=frozenset(goal.events) if goal else frozenset(),
        exit_on=dict(exit_on),
        goal_window=goal.within.seconds if goal else 0.0,
    )


def _events_of(journey: m.Journey) -> set[str]:
    """Every event name that can change something for this journey's instances or entries."""
    names: set[str] = set()
    if isinstance(journey.trigger, m.EventTrigger):
        names.update(journey.trigger.events)
    if journey.goal:
        names.update(journey.goal.events)
    names.update(rule.event for rule in journey.exit_on)
    names.update(s.action.event for s in journey.steps if isinstance(s.action, m.WaitFor))
    return names


def _count_windows(journeys: list[m.Journey]) -> dict[str, float]:
    windows: dict[str, float] = {}
    for journey in journeys:
        for expr in journey.expressions():
            for call in references(expr.source, NAMESPACED).calls:
                parsed = parse_count(call) if call.name == "count" else None
                if isinstance(parsed, CountCall):
                    windows[parsed.event] = max(windows.get(parsed.event, 0),
                                                parsed.window_seconds)
    return windows
