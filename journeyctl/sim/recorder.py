"""Counting what a run did, into the report of SPEC §8: funnels, sends and suppressions per
step, messages by channel and day, A/B results, revenue, cost and attribution."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.records import Undeclared
from journeyctl.sim import holdout as ho
from journeyctl.sim.readers import Reject
from journeyctl.timefmt import rfc3339

SCHEMA_VERSION = 1
MAX_REJECTS_LISTED = 200


@dataclass
class StepCounts:
    reached: int = 0
    sent: int = 0
    held: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    sent_by_channel: Counter[str] = field(default_factory=Counter)


@dataclass
class Money:
    conversions: float = 0.0
    revenue: float = 0.0
    messages: int = 0
    cost: float = 0.0

    def add(self, other: Money) -> None:
        self.conversions += other.conversions
        self.revenue += other.revenue
        self.messages += other.messages
        self.cost += other.cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversions": _round(self.conversions), "revenue": _round(self.revenue),
            "messages": self.messages, "cost": _round(self.cost),
            "cost_per_conversion": _round(self.cost / self.conversions)
            if self.conversions else None,
            "roi": _round((self.revenue - self.cost) / self.cost) if self.cost else None,
        }


def _money_table() -> defaultdict[str, Money]:
    return defaultdict(Money)


@dataclass
class JourneyCounts:
    entered: int = 0
    completed: int = 0
    exited: Counter[str] = field(default_factory=Counter)
    conversions: int = 0
    revenue: float = 0.0
    cost: float = 0.0
    messages: int = 0
    steps: dict[str, StepCounts] = field(default_factory=lambda: defaultdict(StepCounts))
    edges: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    variants: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    variant_conversions: dict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter))
    variant_money: dict[tuple[str, str], Money] = field(default_factory=lambda: defaultdict(Money))

    def merge(self, other: JourneyCounts) -> None:
        self.entered += other.entered
        self.completed += other.completed
        self.exited.update(other.exited)
        self.conversions += other.conversions
        self.revenue += other.revenue
        self.cost += other.cost
        self.messages += other.messages
        for step, counts in other.steps.items():
            mine = self.steps[step]
            mine.reached += counts.reached
            mine.sent += counts.sent
            mine.held += counts.held
            mine.suppressed.update(counts.suppressed)
            mine.sent_by_channel.update(counts.sent_by_channel)
        self.edges.update(other.edges)
        for table, theirs in ((self.variants, other.variants),
                              (self.variant_conversions, other.variant_conversions)):
            for step, counter in theirs.items():
                table[step].update(counter)
        for key, money in other.variant_money.items():
            self.variant_money[key].add(money)


class Recorder:
    """An observer of a simulation that keeps only counters (memory does not grow with events)."""

    # The attributes that hold counts: numbers in Counters, dicts and dataclasses of numbers,
    # nested. They add up (`merge`), and the daemon persists them as rows (`sim.rows`).
    COUNTERS = ("journeys", "by_channel", "by_day", "channel_cost", "last_touch", "linear",
                "failed_expressions", "holdout")

    def __init__(self, project: m.Project, journeys: list[str], tz: ZoneInfo) -> None:
        self.project = project
        self.tz = tz
        self.journey_ids = journeys
        self.reset()

    def reset(self) -> None:
        self.journeys: dict[str, JourneyCounts] = {j: JourneyCounts() for j in self.journey_ids}
        self.by_channel: Counter[str] = Counter()
        self.by_day: Counter[str] = Counter()
        self.channel_cost: Counter[str] = Counter()
        self.last_touch: dict[str, dict[str, Money]] = defaultdict(_money_table)
        self.linear: dict[str, dict[str, Money]] = defaultdict(_money_table)
        self.rejects: list[Reject] = []
        self.undeclared_profiles = Undeclared()
        self.failed_expressions: Counter[tuple[str, str, str]] = Counter()
        # (journey id or `holdout.ALL`, "control" | "treated") -> sums; empty without a holdout
        self.holdout: dict[tuple[str, str], ho.Arm] = defaultdict(ho.Arm)

    def merge(self, other: Recorder) -> None:
        """Add another shard's counts (users are split between shards, so counts add up)."""
        for journey_id, counts in other.journeys.items():
            self.journeys[journey_id].merge(counts)
        self.by_channel.update(other.by_channel)
        self.by_day.update(other.by_day)
        self.channel_cost.update(other.channel_cost)
        for mine, theirs in ((self.last_touch, other.last_touch), (self.linear, other.linear)):
            for key, table in theirs.items():
                for name, money in table.items():
                    mine[key][name].add(money)
        self.rejects = sorted([*self.rejects, *other.rejects],
                              key=lambda r: (r.file, r.line))[:MAX_REJECTS_LISTED]
        self.undeclared_profiles.merge(other.undeclared_profiles)
        self.failed_expressions.update(other.failed_expressions)
        for scope_group, arm in other.holdout.items():
            self.holdout[scope_group].add(arm)

    # --- observer --------------------------------------------------------------------------

    def reject(self, reject: Reject) -> None:
        if len(self.rejects) < MAX_REJECTS_LISTED:
            self.rejects.append(reject)

    def undeclared(self, counts: Undeclared) -> None:
        self.undeclared_profiles = Undeclared(counts.lines, Counter(counts.names))

    def effect(self, effect: Any) -> None:
        handler = _HANDLERS.get(type(effect))
        if handler is not None:
            handler(self, effect)

    def _entered(self, e: fx.Entered) -> None:
        self.journeys[e.journey].entered += 1
        if self.project.holdout is not None:
            ho.count_entry(self.holdout, self.project.holdout, e)

    def _reached(self, e: fx.StepReached) -> None:
        counts = self.journeys[e.journey]
        counts.steps[e.step].reached += 1
        counts.edges[(e.source or "", e.step, e.label)] += 1

    def _send(self, e: fx.Send) -> None:
        counts = self.journeys[e.journey]
        step = counts.steps[e.step]
        step.sent += 1
        step.sent_by_channel[e.channel] += 1
        counts.messages += 1
        cost = self._cost(e.channel)
        counts.cost += cost
        self.by_channel[e.channel] += 1
        # a Counter of floats (it merges shards by adding): typeshed types a Counter's counts int
        self.channel_cost[e.channel] += cost  # type: ignore[assignment]
        self.by_day[dt.datetime.fromtimestamp(e.time, self.tz).date().isoformat()] += 1
        for split, variant in _variants(e.variant):
            money = counts.variant_money[(split, variant)]
            money.messages += 1
            money.cost += cost

    def _suppressed(self, e: fx.Suppressed) -> None:
        self.journeys[e.journey].steps[e.step].suppressed[e.reason] += 1

    def _held(self, e: fx.Held) -> None:
        self.journeys[e.journey].steps[e.step].held += 1

    def _variant(self, e: fx.VariantAssigned) -> None:
        self.journeys[e.journey].variants[e.step][e.variant] += 1

    def _converted(self, e: fx.Converted) -> None:
        if self.project.holdout is not None:
            ho.count_conversion(self.holdout, self.project.holdout, e)
        counts = self.journeys[e.journey]
        counts.conversions += 1
        counts.revenue += e.value
        for split, variant in e.variants:
            counts.variant_conversions[split][variant] += 1
            money = counts.variant_money[(split, variant)]
            money.conversions += 1
            money.revenue += e.value
        touches = [ref for ref in e.messages if self._touches(ref.channel)]
        if touches:
            self._attribute(e, touches)

    def _touches(self, channel: str) -> bool:
        """Only messages to the user count as touches: a channel without an address (a Slack
        channel, a CRM webhook) reaches the team, not the customer."""
        config = self.project.channels.get(channel)
        return bool(config and config.address)

    def _attribute(self, e: fx.Converted, touches: list[fx.MessageRef]) -> None:
        """Last touch: the whole conversion to the last message before it. Linear: an equal
        share to each message of the instance before it."""
        last = touches[-1]
        share = 1 / len(touches)
        variant = ",".join(f"{k}={v}" for k, v in e.variants) or "-"
        for model, credited in (("last_touch", [(last, 1.0)]),
                                ("linear", [(ref, share) for ref in touches])):
            table = self.last_touch if model == "last_touch" else self.linear
            for ref, weight in credited:
                for key, name in (("channel", ref.channel), ("journey", e.journey),
                                  ("variant", f"{e.journey}:{variant}"),
                                  ("template", ref.template)):
                    money = table[key][name]
                    money.conversions += weight
                    money.revenue += weight * e.value

    def _exited(self, e: fx.Exited) -> None:
        counts = self.journeys[e.journey]
        if e.reason == "completed":
            counts.completed += 1
            counts.edges[(e.step or "", m.EXIT, e.label)] += 1
        else:
            counts.exited[e.reason] += 1

    def _failed(self, e: fx.ExpressionFailed) -> None:
        self.failed_expressions[(e.journey, e.where, e.reason)] += 1

    def _cost(self, channel: str) -> float:
        config = self.project.channels.get(channel)
        return config.cost.per_message if config and config.cost else 0.0

    # --- the report ------------------------------------------------------------------------

    def report(self, stats: Any, start: float | None, until: float | None) -> dict[str, Any]:
        journeys = {jid: self._journey_report(jid, counts)
                    for jid, counts in sorted(self.journeys.items())}
        currency = sorted({c.cost.currency for c in self.project.channels.values() if c.cost})
        holdout = self.project.holdout
        extra = {} if holdout is None else {
            "holdout": ho.report(holdout, self.holdout, list(self.journeys))}
        return {
            "schema_version": SCHEMA_VERSION,
            "project": self.project.name,
            "window": {"start": _iso(start), "until": _iso(until)},
            "events": {"read": stats.read, "rejected": stats.rejected,
                       "duplicates": stats.duplicates, "skipped": stats.skipped},
            "users": stats.user_count,
            "profiles": {"read": stats.profiles_read, "rejected": stats.profiles_rejected,
                         "undeclared": self.undeclared_profiles.as_json()},
            "journeys": journeys,
            "messages": {
                "total": sum(self.by_channel.values()),
                "by_channel": dict(sorted(self.by_channel.items())),
                "by_day": dict(sorted(self.by_day.items())),
                "cost": {"total": _round(sum(self.channel_cost.values())),
                         "by_channel": {k: _round(v) for k, v in sorted(
                             self.channel_cost.items())},
                         "currency": currency[0] if len(currency) == 1 else currency or None},
            },
            "attribution": {
                "last_touch": self._attribution(self.last_touch),
                "linear": self._attribution(self.linear),
            },
            "rejects": [{"file": r.file, "line": r.line, "reason": r.reason}
                        for r in self.rejects],
            "failed_expressions": [
                {"journey": j, "where": w, "reason": r, "count": n}
                for (j, w, r), n in sorted(self.failed_expressions.items())],
            **extra,
        }

    def _attribution(self, table: dict[str, dict[str, Money]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("journey", "channel", "variant", "template"):
            rows = {}
            for name, money in sorted(table.get(key, {}).items()):
                if key == "channel":
                    money = Money(money.conversions, money.revenue, self.by_channel[name],
                                  self.channel_cost[name])
                rows[name] = money.as_dict() if key == "channel" else {
                    "conversions": _round(money.conversions), "revenue": _round(money.revenue)}
            out[f"by_{key}"] = rows
        return out

    def _journey_report(self, journey_id: str, counts: JourneyCounts) -> dict[str, Any]:
        journey = self.project.journey(journey_id)
        assert journey is not None
        goal, exit_event = counts.exited["goal"], counts.exited["exit_event"]
        steps = {}
        for step in journey.steps:
            sc = counts.steps.get(step.id, StepCounts())
            entry: dict[str, Any] = {
                "reached": sc.reached, "sent": sc.sent,
                "sent_by_channel": dict(sorted(sc.sent_by_channel.items())),
                "suppressed": dict(sorted(sc.suppressed.items()))}
            if sc.held:
                entry["held"] = sc.held
            if isinstance(step.action, m.Split):
                entry["variants"] = self._variants_report(counts, step)
            steps[step.id] = entry
        money = Money(counts.conversions, counts.revenue, counts.messages, counts.cost)
        return {
            "name": journey.name,
            "entered": counts.entered,
            "completed": counts.completed,
            "active": counts.entered - counts.completed - goal - exit_event,
            "conversions": counts.conversions,
            "exited": {"goal": goal, "exit_event": exit_event},
            **{k: v for k, v in money.as_dict().items() if k != "conversions"},
            "steps": steps,
            "edges": [{"from": s or None, "to": t, "label": label, "count": n}
                      for (s, t, label), n in sorted(counts.edges.items())],
        }

    def _variants_report(self, counts: JourneyCounts, step: m.Step) -> dict[str, Any]:
        assert isinstance(step.action, m.Split)
        names = [v.name for v in step.action.variants]
        entered = counts.variants.get(step.id, Counter())
        converted = counts.variant_conversions.get(step.id, Counter())
        control = "control" if "control" in names else names[0]
        out: dict[str, Any] = {}
        for name in names:
            n, k = entered[name], converted[name]
            row: dict[str, Any] = {"entered": n, "conversions": k,
                                   "conversion_rate": _round(k / n) if n else None}
            row.update({key: value for key, value in
                        counts.variant_money[(step.id, name)].as_dict().items()
                        if key != "conversions"})
            if name != control:
                row.update(compare(entered[control], converted[control], n, k))
            else:
                row["control"] = True
            out[name] = row
        return out


def compare(n1: int, k1: int, n2: int, k2: int) -> dict[str, Any]:
    """Lift of rate 2 over rate 1, and a two-sided two-proportion z-test."""
    if not n1 or not n2:
        return {"lift": None, "z": None, "p_value": None}
    p1, p2 = k1 / n1, k2 / n2
    lift = (p2 - p1) / p1 if p1 else None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return {"lift": _round(lift), "z": None, "p_value": None}
    z = (p2 - p1) / se
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return {"lift": _round(lift), "z": _round(z), "p_value": _round(p_value)}


def _variants(text: str | None) -> list[tuple[str, str]]:
    if not text:
        return []
    # each pair is written `name=value` by the recorder itself: two parts, which mypy cannot see
    return [tuple(pair.split("=", 1)) for pair in text.split(",")]  # type: ignore[misc]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _iso(t: float | None) -> str | None:
    """As the messages file writes times (`timefmt.rfc3339`); None for no time."""
    return None if t is None or math.isinf(t) else rfc3339(t)


_HANDLERS: dict[type, Callable[[Recorder, Any], None]] = {
    fx.Entered: Recorder._entered,
    fx.StepReached: Recorder._reached,
    fx.Send: Recorder._send,
    fx.Suppressed: Recorder._suppressed,
    fx.Held: Recorder._held,
    fx.VariantAssigned: Recorder._variant,
    fx.Converted: Recorder._converted,
    fx.Exited: Recorder._exited,
    fx.ExpressionFailed: Recorder._failed,
}
COUNTED = frozenset(_HANDLERS)  # the effects a recorder counts
