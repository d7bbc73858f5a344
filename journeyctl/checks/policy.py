"""Send policy: caps name real channels, compliance packs exist (and run), and no journey can
send more promotional messages than a project cap lets through (a warning)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from journeyctl import model as m
from journeyctl.checks.compliance import PACKS
from journeyctl.checks.context import CheckContext, did_you_mean
from journeyctl.flow import edges

MAX_PATHS = 5_000  # worst-case search budget per journey; real journeys have a handful
MAX_PATH_STEPS = 200


def check(ctx: CheckContext) -> None:
    project = ctx.project
    for cap in (*project.caps, *(c for j in project.journeys for c in j.caps)):
        if (cap.channel != "any" and cap.channel not in project.channels
                and project.loaded("channel", cap.channel)):
            ctx.add("JC801", f"cap names unknown channel '{cap.channel}'", cap.at("channel"),
                    did_you_mean(cap.channel, [*project.channels, "any"], "channels"))
    for index, name in enumerate(project.compliance):
        pack = PACKS.get(name)
        if pack is None:
            ctx.add("JC803", f"unknown compliance pack '{name}'", project.at("compliance"),
                    did_you_mean(name, PACKS, "packs"))
        elif name not in project.compliance[:index]:
            pack.check(ctx)
    for journey in project.journeys:
        _check_worst_case(ctx, journey)
    events = project.catalog.events
    for sub in project.subscriptions:
        if sub.event not in events and project.catalog.loaded("event", sub.event):
            ctx.add("JC501", f"subscriptions names unknown event '{sub.event}'", sub.loc,
                    did_you_mean(sub.event, events, "events"))


@dataclass(frozen=True)
class _Send:
    at: int  # earliest seconds after entry
    channels: frozenset[str]


def _check_worst_case(ctx: CheckContext, journey: m.Journey) -> None:
    caps = ctx.project.caps
    if not caps or not journey.steps or not journey.steps_complete:
        return
    worst = {cap: 0 for cap in caps}
    for sends in _paths(journey):
        for cap in caps:
            worst[cap] = max(worst[cap], _peak(sends, cap))
    for cap, peak in worst.items():
        if peak > cap.max:
            channel = "promotional messages" if cap.channel == "any" else \
                f"promotional {cap.channel} messages"
            ctx.add("JC820", f"journey '{journey.id}' can send {peak} {channel} within {cap.per}, "
                    f"but the project cap ({cap.reason}) allows {cap.max}; the rest will be "
                    "suppressed", journey.loc,
                    "space the sends out with longer waits, or accept the suppressions")


def _peak(sends: list[_Send], cap: m.Cap) -> int:
    """Most matching sends inside any rolling window `(t - per, t]`."""
    times = sorted(s.at for s in sends if cap.channel == "any" or cap.channel in s.channels)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - cap.per.seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _paths(journey: m.Journey) -> Iterator[list[_Send]]:
    """Each path from entry (up to a budget), as the promotional sends it makes, at the
    earliest time each can happen (a `wait_for` event may arrive at once; `until` may be now)."""
    budget = [MAX_PATHS]
    index = journey.step_index

    def walk(sid: str, t: int, loops: tuple[tuple[str, int], ...], sends: list[_Send],
             depth: int) -> Iterator[list[_Send]]:
        if sid == m.EXIT or sid not in index or depth > MAX_PATH_STEPS or budget[0] <= 0:
            budget[0] -= 1
            yield sends
            return
        step = index[sid]
        for target, delay, extra, new_loops in _moves(journey, step, loops):
            added = [*sends, _Send(t, extra)] if extra else sends
            yield from walk(target, t + delay, new_loops, added, depth + 1)

    yield from walk(journey.steps[0].id, 0, (), [], 0)


def _moves(journey: m.Journey, step: m.Step, loops: tuple[tuple[str, int], ...]
           ) -> Iterator[tuple[str, int, frozenset[str], tuple[tuple[str, int], ...]]]:
    """(next step, seconds that pass, channels of a promotional send, loop counters)."""
    action = step.action
    sent: frozenset[str] = frozenset()
    if isinstance(action, m.Send) and action.category == "promotional":
        sent = frozenset(o.channel for o in action.options)
    counts = dict(loops)
    for edge in dict.fromkeys(edges(journey, step)):
        delay = 0
        if isinstance(action, m.Wait):
            delay = action.duration.seconds
        elif isinstance(action, m.WaitFor) and edge.field == "on_timeout":
            delay = action.timeout.seconds
        new_loops = loops
        if isinstance(action, m.Loop):
            repeat = counts.get(step.id, 0) < action.times
            if (edge.field == "to") != repeat:
                continue  # a loop repeats exactly `times` times, then falls through
            if repeat:
                new_loops = tuple(sorted({**counts, step.id: counts.get(step.id, 0) + 1}.items()))
        yield edge.target, delay, sent, new_loops
