"""The journey language as frozen dataclasses (SPEC §2–§5).

Everything after `journeyctl.build` works on these values, never on raw YAML. Each object
carries the `Loc` it came from, and `locs` for the fields a check may need to point at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, assert_never

from journeyctl.diagnostics import Loc

EXIT = "exit"  # the pseudo step id that ends an instance
# The built-in event that turns one channel's consent off (properties `{"channel": <name>}`):
# the daemon's one-click unsubscribe link ingests it, and a replayed log holds it (docs/daemon.md,
# "One-click unsubscribe"). It needs no catalog entry; journeys may name it.
UNSUBSCRIBE = "journeyctl.unsubscribe"


def lookup(profile: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path of a profile (`consent.email`, a channel's `address`), or None
    where the path is missing: the send policy and message rendering read it the same way."""
    value: Any = profile
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value



class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping, so model values stay immutable all the way down."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # The Mapping mixins are generic and slow; these sit on hot paths of the engine.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self) -> Any:
        return self._data.keys()

    def values(self) -> Any:
        return self._data.values()

    def items(self) -> Any:
        return self._data.items()

    def __hash__(self) -> int:
        return hash(tuple(self._data))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


EMPTY: Mapping[str, Any] = FrozenMap()


def _locs() -> Any:
    return field(default=EMPTY, compare=False, repr=False)


@dataclass(frozen=True)
class Located:
    """Base for model values that can point back at their source."""

    loc: Loc = field(compare=False, repr=False)
    locs: Mapping[str, Loc] = _locs()

    def at(self, name: str) -> Loc:
        """The location of field `name`, falling back to the object's own location."""
        return self.locs.get(name, self.loc)


@dataclass(frozen=True)
class Duration:
    """Elapsed time; `text` keeps the spelling the user wrote (cap reasons quote it)."""

    seconds: int
    text: str

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Expr:
    """A CEL expression, compiled and checked by `validate`, evaluated by the engine."""

    source: str
    loc: Loc = field(compare=False)  # where the expression's first character is

    def at(self, offset: int, length: int = 1) -> Loc:
        """The location of character `offset` (exact on the expression's first line)."""
        head = self.source[:offset]
        if "\n" in head:
            return replace(self.loc, line=self.loc.line + head.count("\n"), length=1)
        return replace(self.loc, col=self.loc.col + offset, length=length)


# --- catalog ---------------------------------------------------------------------------------

AttrType = Literal["string", "number", "integer", "boolean", "timestamp", "list", "object"]


@dataclass(frozen=True)
class Attr(Located):
    """A typed property of an event or a profile; an `object` may declare its own fields."""

    name: str = ""
    type: AttrType = "string"
    required: bool = False
    description: str | None = None
    fields: Mapping[str, Attr] | None = None  # None: an object with undeclared fields
    trusted: bool = False  # the project writes its values (HTML `| safe` may let them through)


@dataclass(frozen=True)
class EventDef(Located):
    name: str = ""
    description: str | None = None
    version: int | None = None
    properties: Mapping[str, Attr] = EMPTY


@dataclass(frozen=True)
class Catalog(Located):
    events: Mapping[str, EventDef] = EMPTY
    profile: Mapping[str, Attr] = EMPTY
    # What is declared but failed to load ("*", "event:<name>", "profile:*", "profile:<attr>"):
    # references to it are not reported again, its own error already was.
    broken: frozenset[str] = frozenset()

    def loaded(self, kind: str, name: str) -> bool:
        return not ({"*", f"{kind}:*", f"{kind}:{name}"} & self.broken)

    @cached_property
    def profile_attrs(self) -> Mapping[str, Attr]:
        """The declared profile attributes plus those every profile has (`user_id`)."""
        implicit = {"user_id": Attr(loc=self.loc, name="user_id")}
        return FrozenMap({**implicit, **self.profile})


# --- channels and templates ------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    attempts: int = 3
    backoff: Duration = Duration(1, "1s")
    max_backoff: Duration = Duration(300, "5m")


@dataclass(frozen=True)
class RateLimit:
    count: int
    per_seconds: int
    text: str


@dataclass(frozen=True)
class Cost:
    per_message: float
    currency: str


@dataclass(frozen=True)
class Channel(Located):
    name: str = ""
    adapter: str = ""
    address: str = ""  # profile attribute (dotted path) holding the address
    consent: str | None = None  # profile attribute (dotted path) that must be true
    base_url: str | None = None
    credentials: Mapping[str, str] = EMPTY  # credential name -> environment variable name
    timeout: Duration = Duration(10, "10s")
    retry: Retry = Retry()
    rate_limit: RateLimit | None = None
    cost: Cost | None = None
    settings: Mapping[str, Any] = EMPTY  # adapter-specific, checked by the adapter's schema


@dataclass(frozen=True)
class TemplateField(Located):
    """One field of a template: a Liquid string, or a mapping/list of them (push `data`)."""

    name: str = ""
    value: Any = ""

    def strings(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Every Liquid source string in the field, with its path below the field."""
        yield from _strings((), self.value)


FieldPath = tuple[str | int, ...]


def _strings(path: FieldPath, value: Any) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings((*path, key), item)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _strings((*path, index), item)


@dataclass(frozen=True)
class Template(Located):
    name: str = ""
    channel: str = ""
    fields: Mapping[str, TemplateField] = EMPTY
    description: str | None = None
    # Keys of the file left out for their errors (a field, "channel"): checks stay silent
    # about what they hide, e.g. a required field that is there but broken.
    broken: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Snippet(Located):
    """A Liquid partial, `snippets/<name>.liquid`, that templates pull in with
    `{% render '<name>' %}` or `{% include '<name>' %}`. Loaded with the project, so no host
    reads a file at send time."""

    name: str = ""
    source: str = ""

    def at_offset(self, offset: int, length: int = 1) -> Loc:
        """The location of character `offset` of the source (the file is the source)."""
        before = self.source[:offset]
        return Loc(self.loc.file, before.count("\n") + 1, offset - before.rfind("\n"), length)


# --- send policy -----------------------------------------------------------------------------

Category = Literal["promotional", "transactional"]


@dataclass(frozen=True)
class Cap(Located):
    """At most `max` promotional messages on `channel` ("any" for all) per rolling `per`."""

    channel: str = "any"
    max: int = 1
    per: Duration = Duration(86400, "1d")

    @property
    def reason(self) -> str:
        return f"cap:{self.channel}/{self.max}/{self.per.text}"


@dataclass(frozen=True)
class QuietHours(Located):
    start: dt.time = dt.time(21)
    end: dt.time = dt.time(8)
    action: Literal["delay", "skip"] = "delay"


# --- journeys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTrigger(Located):
    events: tuple[str, ...] = ()
    where: Expr | None = None


@dataclass(frozen=True)
class InactiveTrigger(Located):
    after: Duration = Duration(0, "0s")
    events: tuple[str, ...] | None = None  # None: any event counts as activity


@dataclass(frozen=True)
class ScheduleTrigger(Located):
    cron: str = ""


Trigger = EventTrigger | InactiveTrigger | ScheduleTrigger


@dataclass(frozen=True)
class Entry(Located):
    reentry: Literal["never", "after_exit", "cooldown"] = "after_exit"
    cooldown: Duration | None = None


@dataclass(frozen=True)
class Goal(Located):
    events: tuple[str, ...] = ()
    within: Duration = Duration(0, "0s")
    where: Expr | None = None
    value: Expr | None = None
    exit: bool = True


@dataclass(frozen=True)
class ExitOn(Located):
    event: str = ""
    where: Expr | None = None


@dataclass(frozen=True)
class Wait(Located):
    duration: Duration = Duration(1, "1s")


@dataclass(frozen=True)
class WaitUntil(Located):
    time: dt.time = dt.time(0)
    days: tuple[int, ...] = ()  # ISO weekday numbers (1 = Monday); empty: every day


@dataclass(frozen=True)
class WaitFor(Located):
    event: str = ""
    timeout: Duration = Duration(1, "1s")
    on_timeout: str | None = None  # None: the following step
    where: Expr | None = None
    lookback: Duration | Literal["entry"] | None = None


@dataclass(frozen=True)
class SendOption(Located):
    channel: str = ""
    template: str = ""


@dataclass(frozen=True)
class Send(Located):
    primary: SendOption = SendOption(Loc(""))
    category: Category = "promotional"
    fallback: tuple[SendOption, ...] = ()

    @property
    def options(self) -> tuple[SendOption, ...]:
        return (self.primary, *self.fallback)


@dataclass(frozen=True)
class BranchArm(Located):
    condition: Expr | None = None  # None: the `else` arm
    next: str | None = None  # None on `else`: the following step


@dataclass(frozen=True)
class Branch(Located):
    arms: tuple[BranchArm, ...] = ()  # the `else` arm, when written, is last


@dataclass(frozen=True)
class Variant(Located):
    name: str = ""
    weight: int = 0
    next: str | None = None  # None: the following step


Metric = Literal["conversion"]


@dataclass(frozen=True)
class Decide(Located):
    """When a split's experiment has a winner (`decide:` beside `split:`; see
    journeyctl.experiments): every variant has `min_per_variant` users, and the best one beats
    each other one with a p-value below 1 - `confidence`."""

    metric: Metric = "conversion"
    min_per_variant: int = 100
    confidence: float = 0.95


@dataclass(frozen=True)
class Split(Located):
    variants: tuple[Variant, ...] = ()
    decide: Decide | None = None  # None: the default rule (`Decide`'s defaults) applies


@dataclass(frozen=True)
class Update(Located):
    set: tuple[tuple[str, Expr], ...] = ()  # (dotted profile attribute, value expression)


@dataclass(frozen=True)
class Loop(Located):
    to: str = ""
    times: int = 1


@dataclass(frozen=True)
class ExitStep(Located):
    reason: str | None = None


Action = Wait | WaitUntil | WaitFor | Send | Branch | Split | Update | Loop | ExitStep

StepKind = Literal["wait", "wait_for", "send", "branch", "split", "update", "loop", "exit"]

STEP_KINDS: dict[StepKind, type[Action]] = {
    "wait": Wait,  # `wait: 6h`; `wait: {until: ...}` builds a WaitUntil
    "wait_for": WaitFor,
    "send": Send,
    "branch": Branch,
    "split": Split,
    "update": Update,
    "loop": Loop,
    "exit": ExitStep,
}


@dataclass(frozen=True)
class Step(Located):
    id: str = ""
    action: Action = ExitStep(Loc(""))
    next: str | None = None  # None: the following step in list order (or the end)

    @property
    def kind(self) -> StepKind:
        return "wait" if isinstance(self.action, WaitUntil) else _KIND_NAMES[type(self.action)]


_KIND_NAMES: dict[type[Action], StepKind] = {cls: name for name, cls in STEP_KINDS.items()}


def step_part(step_id: object) -> str:
    """How `Journey.broken` names a step left out: by its id — a number or boolean written as
    the id (`id: 7`) by its text, as a reference to it is written — and `step:*` when it has
    no usable one (then any step reference may be to it)."""
    if isinstance(step_id, bool):
        return f"step:{str(step_id).lower()}"  # YAML's spelling
    return f"step:{step_id}" if isinstance(step_id, str | int | float) else "step:*"

Status = Literal["active", "paused", "draft"]


@dataclass(frozen=True)
class Journey(Located):
    id: str = ""
    name: str | None = None
    description: str | None = None
    status: Status = "active"
    trigger: Trigger = EventTrigger(Loc(""))
    audience: Expr | None = None
    entry: Entry = Entry(Loc(""))
    goal: Goal | None = None
    exit_on: tuple[ExitOn, ...] = ()
    caps: tuple[Cap, ...] = ()
    steps: tuple[Step, ...] = ()
    migrate: Mapping[str, str] = EMPTY  # old step id -> new step id (SPEC §6)
    max_delay: Duration | None = None  # the daemon drops messages later than this
    # Parts of the file left out for their errors, so that checks stay silent about what they
    # hide (the errors themselves were reported): top-level keys ("trigger", "goal", "steps"
    # when the list itself is wrong), each step left out as `step_part(id)`, and "wait_for"
    # when one of those awaits an event. A journey with broken parts is never run.
    broken: frozenset[str] = frozenset()

    def step(self, step_id: str) -> Step:
        return self.step_index[step_id]

    def loaded_step(self, step_id: str) -> bool:
        """False when `step_id` may name a step that was left out for its errors."""
        return not ({"steps", step_part(None), step_part(step_id)} & self.broken)

    @property
    def steps_complete(self) -> bool:
        """Every step loaded, so the step graph is whole (reachability, cycles, paths)."""
        return not any(part == "steps" or part.startswith("step:") for part in self.broken)

    def expressions(self) -> Iterator[Expr]:
        """Every CEL expression of the journey."""
        trigger = self.trigger
        candidates: list[Expr | None] = [
            trigger.where if isinstance(trigger, EventTrigger) else None, self.audience,
            self.goal.where if self.goal else None, self.goal.value if self.goal else None,
            *(rule.where for rule in self.exit_on),
        ]
        for step in self.steps:
            action = step.action
            match action:
                case WaitFor():
                    candidates.append(action.where)
                case Branch():
                    candidates.extend(arm.condition for arm in action.arms)
                case Update():
                    candidates.extend(expr for _, expr in action.set)
                case Wait() | WaitUntil() | Send() | Split() | Loop() | ExitStep():
                    pass  # no CEL in these
                case _:
                    assert_never(action)
        yield from (expr for expr in candidates if expr is not None)

    @cached_property
    def step_index(self) -> Mapping[str, Step]:
        return FrozenMap((s.id, s) for s in self.steps)


# --- the project -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention(Located):
    """How long the daemon keeps what it has finished with (docs/language.md, "Retention"):
    processed events (their `event_id` is a duplicate for that long) and finished messages
    (`GET /v1/users` shows them for that long)."""

    events: Duration = Duration(7 * 86400, "7d")
    messages: Duration = Duration(30 * 86400, "30d")


RETENTION_FLOOR = Duration(60, "1m")  # see build._retention


@dataclass(frozen=True)
class Holdout(Located):
    """The global control group (docs/language.md, "Holdout"): users whose hash of
    (`salt`, user id) falls below `percent` receive no promotional message."""

    percent: float = 5.0
    salt: str = ""


@dataclass(frozen=True)
class Subscription(Located):
    """`subscriptions:` in journeyctl.yaml (docs/language.md, "Subscriptions"): an event that
    changes consent, applied before any journey sees the event."""

    event: str = ""
    changes: tuple[tuple[str, bool], ...] = ()  # (dotted path under `consent.`, value)


@dataclass(frozen=True)
class Project(Located):
    name: str = ""
    root: Path = Path(".")
    timezone: str = "UTC"
    journeys_dir: str = "journeys/"
    events_file: str = "events.yaml"
    channels_file: str = "channels.yaml"
    templates_dir: str = "templates/"
    snippets_dir: str = "snippets/"
    tests_dir: str = "tests/"
    state: str = "sqlite:///.journeyctl/state.db"
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    compliance: tuple[str, ...] = ()
    retention: Retention = Retention(Loc(""))
    holdout: Holdout | None = None
    subscriptions: tuple[Subscription, ...] = ()
    catalog: Catalog = Catalog(Loc(""))
    channels: Mapping[str, Channel] = EMPTY
    templates: Mapping[str, Template] = EMPTY
    snippets: Mapping[str, Snippet] = EMPTY
    journeys: tuple[Journey, ...] = ()
    # Declared but failed to load ("channel:<name>", "channel:*", "template:<name>",
    # "journey:<file>"): references to these are not reported a second time.
    broken: frozenset[str] = frozenset()

    def loaded(self, kind: str, name: str) -> bool:
        return not ({f"{kind}:*", f"{kind}:{name}"} & self.broken)

    def journey(self, journey_id: str) -> Journey | None:
        return next((j for j in self.journeys if j.id == journey_id), None)

    @cached_property
    def snippet_sources(self) -> Mapping[str, str]:
        """Snippet name -> Liquid source: what templates load partials from. One object per
        project, so the Liquid caches keyed on it hit by identity."""
        return FrozenMap((name, s.source) for name, s in self.snippets.items())
