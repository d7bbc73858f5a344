"""Schema-valid YAML -> the frozen model, with value-level errors (durations, zones, cron).

Every function here runs only on documents that passed their JSON Schema, or on what the
loader kept of them (the parts with schema errors left out), so shapes and types are known;
what is left to catch are values a schema cannot judge, and rules between keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from journeyctl import model as m
from journeyctl.cron import CronError
from journeyctl.cron import trigger as cron_trigger
from journeyctl.diagnostics import Collector, Loc
from journeyctl.timeparse import (
    parse_day,
    parse_duration,
    parse_rate,
    parse_time_of_day,
    zone,
    zone_hint,
)
from journeyctl.yamlload import Doc, DocPath

T = TypeVar("T")
STEP_KEYS: tuple[m.StepKind, ...] = tuple(m.STEP_KINDS)  # the order the JC105 hint lists them


@dataclass
class _Builder:
    doc: Doc
    out: Collector
    broken: set[str] = field(default_factory=set)  # parts left out (see `Journey.broken`)

    def part(self, name: str, make: Callable[[], T]) -> T | None:
        """`make()`, or None, with `name` noted as broken, when it reported an error."""
        mark = len(self.out.items)
        value = make()
        if self.failed_since(mark):
            self.broken.add(name)
            return None
        return value

    def failed_since(self, mark: int) -> bool:
        return any(d.is_error for d in self.out.items[mark:])

    def loc(self, *path: str | int, key: bool = False) -> Loc:
        return self.doc.loc(tuple(path), key=key)

    def locs(self, base: DocPath, raw: dict[str, Any]) -> m.FrozenMap:
        return m.FrozenMap((k, self.doc.loc((*base, k))) for k in raw)

    def duration(self, value: str, *path: str | int) -> m.Duration:
        parsed = parse_duration(value)
        if parsed is None:  # the schema pattern admits `0s`; a zero duration is still wrong
            self.out.add("JC301", f"{value!r} is not a positive duration", self.loc(*path))
            return m.Duration(1, value)
        return parsed

    def expr(self, value: Any, *path: str | int) -> m.Expr:
        source = value if isinstance(value, str) else _literal(value)
        return m.Expr(source, self.doc.loc_in_scalar(path, 0))

    def time(self, value: str, *path: str | int) -> dt.time:
        parsed = parse_time_of_day(value)
        if parsed is None:  # the schema's pattern admits only valid times; stay safe anyway
            self.out.add("JC302", f"{value!r} is not a time of day", self.loc(*path))
            return dt.time(0)
        return parsed


def _literal(value: Any) -> str:
    """A YAML number/boolean/null written where CEL is expected, as a CEL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --- project, catalog, channels, templates ---------------------------------------------------


def build_project(doc: Doc, root: Path, out: Collector) -> m.Project:
    b = _Builder(doc, out)
    raw: dict[str, Any] = doc.data
    timezone = raw.get("timezone", m.Project.timezone)
    if zone(timezone) is None:
        out.add("JC305", f"unknown time zone {timezone!r}", b.loc("timezone"), zone_hint(timezone))
    return m.Project(
        loc=b.loc(),
        locs=b.locs((), raw),
        name=raw["project"],
        root=root,
        timezone=timezone,
        journeys_dir=raw.get("journeys", m.Project.journeys_dir),
        events_file=raw.get("events", m.Project.events_file),
        channels_file=raw.get("channels", m.Project.channels_file),
        templates_dir=raw.get("templates", m.Project.templates_dir),
        snippets_dir=raw.get("snippets", m.Project.snippets_dir),
        tests_dir=raw.get("tests", m.Project.tests_dir),
        state=raw.get("state", m.Project.state),
        caps=_caps(b, raw.get("caps", []), ("caps",)),
        quiet_hours=_quiet_hours(b, raw.get("quiet_hours")),
        compliance=tuple(raw.get("compliance", [])),
        retention=_retention(b, raw.get("retention")),
        holdout=_holdout(b, raw.get("holdout")),
        subscriptions=_subscriptions(b, raw.get("subscriptions")),
    )


def _caps(b: _Builder, raw: list[dict[str, Any]], path: DocPath) -> tuple[m.Cap, ...]:
    return tuple(
        m.Cap(
            loc=b.loc(*path, i),
            locs=b.locs((*path, i), cap),
            channel=cap.get("channel", m.Cap.channel),
            max=cap["max"],
            per=b.duration(cap["per"], *path, i, "per"),
        )
        for i, cap in enumerate(raw) if cap is not None  # None: left out by the loader
    )


def _quiet_hours(b: _Builder, raw: dict[str, Any] | None) -> m.QuietHours | None:
    if raw is None:
        return None
    return m.QuietHours(
        loc=b.loc("quiet_hours"),
        locs=b.locs(("quiet_hours",), raw),
        start=b.time(raw["start"], "quiet_hours", "start"),
        end=b.time(raw["end"], "quiet_hours", "end"),
        action=raw.get("action", m.QuietHours.action),
    )


def _holdout(b: _Builder, raw: dict[str, Any] | None) -> m.Holdout | None:
    if raw is None:
        return None
    return m.Holdout(loc=b.loc("holdout"), locs=b.locs(("holdout",), raw),
                     percent=float(raw["percent"]), salt=raw["salt"])


def _subscriptions(b: _Builder, raw: dict[str, Any] | None) -> tuple[m.Subscription, ...]:
    return tuple(
        m.Subscription(loc=b.loc("subscriptions", event, key=True),
                       locs=b.locs(("subscriptions", event), changes or {}), event=event,
                       changes=tuple((path, bool(v)) for path, v in (changes or {}).items()))
        for event, changes in (raw or {}).items())


def _retention(b: _Builder, raw: dict[str, Any] | None) -> m.Retention:
    """Shorter than `RETENTION_FLOOR` is refused: what the daemon prunes still dedupes for
    that long (an event's id against a client's retry; a message's key against its outcome
    recorded twice, which would queue its fallback twice)."""
    default = m.Retention(b.loc())
    if raw is None:
        return default
    kept: dict[str, m.Duration] = {}
    for name in ("events", "messages"):
        if name not in raw:
            continue
        mark = len(b.out.items)
        duration = b.duration(raw[name], "retention", name)
        if b.failed_since(mark):
            continue
        if duration.seconds < m.RETENTION_FLOOR.seconds:
            b.out.add("JC307", f"retention.{name}: {duration} is shorter than the "
                      f"{m.RETENTION_FLOOR} the daemon needs", b.loc("retention", name),
                      f"write {m.RETENTION_FLOOR} or more (the default is "
                      f"{getattr(default, name)}): {_RETENTION_NEEDS[name]}")
            continue
        kept[name] = duration
    return m.Retention(loc=b.loc("retention"), locs=b.locs(("retention",), raw), **kept)


_RETENTION_NEEDS = {
    "events": "a repeated event_id is a duplicate only while the first is kept, so keep events "
              "at least as long as your clients retry a request",
    "messages": "a finished message is kept while its outcome may still be recorded again "
                "(seconds), so that its fallback is never queued twice",
}


def build_catalog(doc: Doc, out: Collector) -> m.Catalog:
    b = _Builder(doc, out)
    raw: dict[str, Any] = doc.data
    events = {
        name: m.EventDef(
            loc=b.loc("events", name, key=True),
            name=name,
            description=(body or {}).get("description"),
            version=(body or {}).get("version"),
            properties=_attrs(b, (body or {}).get("properties", {}),
                              ("events", name, "properties")),
        )
        for name, body in raw.get("events", {}).items()
    }
    return m.Catalog(
        loc=b.loc(),
        events=m.FrozenMap(events),
        profile=_attrs(b, raw.get("profile", {}), ("profile",)),
    )


def _attrs(b: _Builder, raw: dict[str, Any], path: DocPath) -> m.FrozenMap:
    return m.FrozenMap((name, _attr(b, name, spec, (*path, name))) for name, spec in raw.items())


def _attr(b: _Builder, name: str, spec: Any, path: DocPath) -> m.Attr:
    if isinstance(spec, str):
        spec = {"type": spec}
    fields = spec.get("properties")
    if fields is not None and spec["type"] != "object":
        b.out.add("JC502", f"attribute '{name}' has fields but is of type {spec['type']}",
                  b.doc.loc((*path, "properties"), key=True), "fields belong to `type: object`")
    return m.Attr(
        loc=b.doc.loc(path, key=True),
        name=name,
        type=spec["type"],
        required=spec.get("required", m.Attr.required),
        description=spec.get("description"),
        fields=_attrs(b, fields, (*path, "properties")) if fields is not None else None,
        trusted=spec.get("trusted", m.Attr.trusted),
    )


_COMMON_CHANNEL_KEYS = {
    "adapter", "description", "base_url", "credentials", "address", "consent", "timeout",
    "retry", "rate_limit", "cost",
}


def build_channels(doc: Doc, out: Collector) -> m.FrozenMap:
    b = _Builder(doc, out)
    return m.FrozenMap(
        (name, _channel(b, name, raw)) for name, raw in doc.data.get("channels", {}).items()
    )


def _channel(b: _Builder, name: str, raw: dict[str, Any]) -> m.Channel:
    path = ("channels", name)
    retry = raw.get("retry", {})
    cost = raw.get("cost")
    return m.Channel(
        loc=b.doc.loc(path, key=True),
        locs=b.locs(path, raw),
        name=name,
        adapter=raw["adapter"],
        address=raw.get("address", ""),
        consent=raw.get("consent"),
        base_url=raw.get("base_url"),
        credentials=m.FrozenMap(
            (k, v.removeprefix("env:")) for k, v in raw.get("credentials", {}).items()
        ),
        timeout=b.duration(raw.get("timeout", "10s"), *path, "timeout"),
        retry=m.Retry(
            attempts=retry.get("attempts", m.Retry.attempts),
            backoff=b.duration(retry.get("backoff", "1s"), *path, "retry", "backoff"),
            max_backoff=b.duration(retry.get("max_backoff", "5m"), *path, "retry", "max_backoff"),
        ),
        rate_limit=parse_rate(raw["rate_limit"]) if "rate_limit" in raw else None,
        cost=m.Cost(cost["per_message"], cost.get("currency", "USD")) if cost else None,
        settings=_freeze({k: v for k, v in raw.items() if k not in _COMMON_CHANNEL_KEYS}),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return m.FrozenMap((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def build_template(doc: Doc, name: str, out: Collector,
                   broken: frozenset[str] = frozenset()) -> m.Template:
    """The template in `doc`; `broken` names the keys the loader left out for their errors."""
    b = _Builder(doc, out)
    raw: dict[str, Any] = doc.data
    fields = {
        key: m.TemplateField(loc=b.loc(key), name=key, value=_freeze(value))
        for key, value in raw.items()
        if key not in ("channel", "description")
    }
    return m.Template(
        loc=b.loc(),
        locs=b.locs((), raw),
        name=name,
        channel=raw.get("channel", ""),
        fields=m.FrozenMap(fields),
        description=raw.get("description"),
        broken=broken,
    )


# --- journeys --------------------------------------------------------------------------------


def build_journey(doc: Doc, out: Collector, broken: frozenset[str] = frozenset()) -> m.Journey:
    """The journey in `doc`. `broken` names the parts the loader left out for schema errors
    (their keys are absent, their list items None); a part with a wrong value (a zero
    duration, a bad cron) is reported and left out too, and all are in `Journey.broken`."""
    b = _Builder(doc, out, set(broken))
    raw: dict[str, Any] = doc.data

    def part(key: str, make: Callable[[Any], T]) -> T | None:
        return b.part(key, lambda: make(raw[key])) if key in raw else None

    trigger = part("trigger", lambda r: _trigger(b, r))
    steps = _steps(b, raw.get("steps", []))
    return m.Journey(
        loc=b.loc("journey"),
        locs=b.locs((), raw),
        id=raw["journey"],
        name=raw.get("name"),
        description=raw.get("description"),
        status=raw.get("status", m.Journey.status),
        trigger=trigger or m.EventTrigger(loc=b.loc("journey")),
        audience=part("audience", lambda r: b.expr(r, "audience")),
        entry=part("entry", lambda r: _entry(b, r)) or _entry(b, {}),
        goal=part("goal", lambda r: _goal(b, r)),
        exit_on=tuple(
            m.ExitOn(loc=b.loc("exit_on", i), event=e["event"],
                     where=b.expr(e["where"], "exit_on", i, "where") if "where" in e else None)
            for i, e in enumerate(raw.get("exit_on", [])) if e is not None
        ),
        caps=part("caps", lambda r: _caps(b, r, ("caps",))) or (),
        steps=steps,
        migrate=m.FrozenMap(raw.get("migrate", {})),
        max_delay=part("max_delay", lambda r: b.duration(r, "max_delay")),
        broken=frozenset(b.broken),
    )


def _steps(b: _Builder, raw: list[Any]) -> tuple[m.Step, ...]:
    """The steps that build; the others are reported and noted in `b.broken`."""
    steps = []
    for i, step_raw in enumerate(raw):
        if step_raw is None:  # left out by the loader
            continue
        mark = len(b.out.items)
        step = _step(b, step_raw, ("steps", i))
        if step is not None and not b.failed_since(mark):
            steps.append(step)
            continue
        b.broken.add(m.step_part(step_raw["id"]))
        if "wait_for" in step_raw:
            b.broken.add("wait_for")
    return tuple(steps)


def _trigger(b: _Builder, raw: dict[str, Any]) -> m.Trigger:
    path = ("trigger",)
    forms = [k for k in ("event", "inactive", "schedule") if k in raw]
    if len(forms) != 1:
        found = ", ".join(forms) if forms else "none"
        b.out.add("JC105", f"a trigger needs exactly one of event, inactive, schedule (found: "
                  f"{found})", b.loc(*path), "e.g. `trigger: {event: add_to_cart}`")
        return m.EventTrigger(loc=b.loc(*path))
    form = forms[0]
    for key, owner in (("where", "event"), ("events", "inactive")):
        if key in raw and form != owner:
            b.out.add("JC101", f"`{key}` belongs to `{owner}` triggers, not `{form}`",
                      b.loc(*path, key, key=True))
    if form == "event":
        where = b.expr(raw["where"], *path, "where") if "where" in raw else None
        return m.EventTrigger(loc=b.loc(*path), locs=b.locs(path, raw),
                              events=_names(raw["event"]), where=where)
    if form == "inactive":
        return m.InactiveTrigger(
            loc=b.loc(*path), locs=b.locs(path, raw),
            after=b.duration(raw["inactive"], *path, "inactive"),
            events=tuple(raw["events"]) if "events" in raw else None,
        )
    try:
        cron_trigger(raw["schedule"], "UTC")
    except CronError as exc:
        b.out.add("JC304", f"invalid cron expression {raw['schedule']!r}: {exc}",
                  b.loc(*path, "schedule"),
                  'five fields: minute hour day month weekday, e.g. "0 10 * * MON"')
    return m.ScheduleTrigger(loc=b.loc(*path), locs=b.locs(path, raw), cron=raw["schedule"])


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _entry(b: _Builder, raw: dict[str, Any]) -> m.Entry:
    reentry = raw.get("reentry", m.Entry.reentry)
    loc = b.loc("entry")
    if reentry in ("never", "after_exit"):
        return m.Entry(loc=loc, reentry=reentry)
    cooldown = parse_duration(reentry)
    if cooldown is None:
        b.out.add("JC307", f"entry.reentry: {reentry!r} is not never, after_exit or a duration",
                  b.loc("entry", "reentry"), "write `never`, `after_exit` or a duration like 7d")
    return m.Entry(loc=loc, reentry="cooldown", cooldown=cooldown)


def _goal(b: _Builder, raw: dict[str, Any]) -> m.Goal:
    p = ("goal",)
    return m.Goal(
        loc=b.loc(*p),
        locs=b.locs(p, raw),
        events=_names(raw["event"]),
        within=b.duration(raw["within"], *p, "within"),
        where=b.expr(raw["where"], *p, "where") if "where" in raw else None,
        value=b.expr(raw["value"], *p, "value") if "value" in raw else None,
        exit=raw.get("exit", m.Goal.exit),
    )


def _step(b: _Builder, raw: dict[str, Any], path: DocPath) -> m.Step | None:
    kinds = [k for k in STEP_KEYS if k in raw]
    if len(kinds) != 1:
        what = f"has {len(kinds)} kinds ({', '.join(kinds)})" if kinds else "has no kind"
        b.out.add("JC105", f"step '{raw['id']}' {what}", b.doc.loc(path),
                  f"give each step exactly one of: {', '.join(STEP_KEYS)}")
        return None
    if raw["id"] == m.EXIT:
        b.out.add("JC104", "`exit` is reserved and cannot be a step id", b.doc.loc((*path, "id")),
                  "`next: exit` ends the journey; name the step something else")
        return None
    kind = kinds[0]
    action = _ACTIONS[kind](b, raw[kind], (*path, kind), b.doc.loc((*path, kind)))
    if "decide" in raw:
        action = _with_decide(b, action, raw["decide"], (*path, "decide"))
    return m.Step(loc=b.doc.loc(path), locs=b.locs(path, raw), id=raw["id"], action=action,
                  next=raw.get("next"))


def _wait(b: _Builder, raw: Any, path: DocPath, loc: Loc) -> m.Action:
    if isinstance(raw, str):
        return m.Wait(loc=loc, duration=b.duration(raw, *path))
    days = tuple(d for d in (parse_day(day) for day in raw.get("days", [])) if d)
    return m.WaitUntil(loc=loc, locs=b.locs(path, raw), time=b.time(raw["until"], *path, "until"),
                       days=days)


def _wait_for(b: _Builder, raw: dict[str, Any], path: DocPath, loc: Loc) -> m.Action:
    lookback = raw.get("lookback")
    return m.WaitFor(
        loc=loc,
        locs=b.locs(path, raw),
        event=raw["event"],
        timeout=b.duration(raw["timeout"], *path, "timeout"),
        on_timeout=raw.get("on_timeout"),
        where=b.expr(raw["where"], *path, "where") if "where" in raw else None,
        lookback=lookback if lookback in (None, "entry") else b.duration(lookback, *path,
                                                                         "lookback"),
    )


def _send(b: _Builder, raw: dict[str, Any], path: DocPath, loc: Loc) -> m.Action:
    def option(o: dict[str, Any], p: DocPath) -> m.SendOption:
        return m.SendOption(loc=b.doc.loc(p), locs=b.locs(p, o), channel=o["channel"],
                            template=o["template"])

    return m.Send(
        loc=loc,
        locs=b.locs(path, raw),
        primary=option(raw, path),
        category=raw.get("category", m.Send.category),
        fallback=tuple(option(o, (*path, "fallback", i))
                       for i, o in enumerate(raw.get("fallback", []))),
    )


def _branch(b: _Builder, raw: list[dict[str, Any]], path: DocPath, loc: Loc) -> m.Action:
    arms = []
    for i, arm in enumerate(raw):
        loc = b.doc.loc((*path, i))
        if "else" in arm:
            if i != len(raw) - 1:
                b.out.add("JC213", "the `else` arm must be the last one", loc)
            arms.append(m.BranchArm(loc=loc, locs=b.locs((*path, i), arm), next=arm["else"]))
        else:
            arms.append(m.BranchArm(loc=loc, locs=b.locs((*path, i), arm),
                                    condition=b.expr(arm["if"], *path, i, "if"),
                                    next=arm["next"]))
    return m.Branch(loc=loc, arms=tuple(arms))


def _split(b: _Builder, raw: list[dict[str, Any]], path: DocPath, loc: Loc) -> m.Action:
    return m.Split(loc=loc, variants=tuple(
        m.Variant(loc=b.doc.loc((*path, i)), locs=b.locs((*path, i), v), name=v["variant"],
                  weight=int(v["weight"]), next=v.get("next"))
        for i, v in enumerate(raw)
    ))


def _with_decide(b: _Builder, action: m.Action, raw: dict[str, Any], path: DocPath
                 ) -> m.Action:
    """`decide:` sits beside `split:` (a split is a list); on any other step it means nothing."""
    if not isinstance(action, m.Split):
        b.out.add("JC216", "`decide` only applies to a split step", b.doc.loc(path, key=True),
                  "move it to the split step whose experiment it decides, or remove it")
        return action
    decide = m.Decide(loc=b.doc.loc(path), locs=b.locs(path, raw),
                      metric=raw.get("metric", m.Decide.metric),
                      min_per_variant=raw.get("min_per_variant", m.Decide.min_per_variant),
                      confidence=float(raw.get("confidence", m.Decide.confidence)))
    return replace(action, decide=decide)


def _update(b: _Builder, raw: dict[str, Any], path: DocPath, loc: Loc) -> m.Action:
    return m.Update(loc=loc, locs=b.locs((*path, "set"), raw["set"]), set=tuple(
        (attr, b.expr(value, *path, "set", attr)) for attr, value in raw["set"].items()
    ))


def _loop(b: _Builder, raw: dict[str, Any], path: DocPath, loc: Loc) -> m.Action:
    return m.Loop(loc=loc, locs=b.locs(path, raw), to=raw["to"], times=raw["times"])


def _exit(b: _Builder, raw: dict[str, Any] | None, path: DocPath, loc: Loc) -> m.Action:
    return m.ExitStep(loc=loc, reason=(raw or {}).get("reason"))


_ACTIONS: dict[m.StepKind, Callable[[_Builder, Any, DocPath, Loc], m.Action]] = {
    "wait": _wait, "wait_for": _wait_for, "send": _send, "branch": _branch, "split": _split,
    "update": _update, "loop": _loop, "exit": _exit,
}
