"""Diagnostics: every problem journeyctl finds is a value with a location and a stable code.

Nothing here prints. `journeyctl.diagnostics_render` turns diagnostics into text, JSON or GitHub
annotations; the CLI picks the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Loc:
    """A position in a project file: 1-based line and column; `length` underlines a token.
    Line 0 is no position: `file` then names a command-line option (see `option`)."""

    file: str
    line: int = 1
    col: int = 1
    length: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


def option(name: str) -> Loc:
    """Where a command-line option is at fault: there is no line or column to point at."""
    return Loc(name, 0, 0)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    loc: Loc
    hint: str | None = None
    severity: Severity = Severity.ERROR
    path: tuple[str | int, ...] = ()  # where in the document, when known

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.loc.file, self.loc.line, self.loc.col, self.code)


class JourneyctlError(Exception):
    """The one error type user mistakes raise; it carries located diagnostics."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(f"{first.loc}: {first.message}" if first else "journeyctl error")


@dataclass
class Collector:
    """Accumulates diagnostics so a run can report every problem at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, code: str, message: str, loc: Loc, hint: str | None = None) -> None:
        self.items.append(diagnostic(code, message, loc, hint))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(set(self.items), key=Diagnostic.sort_key)


@dataclass(frozen=True)
class CodeInfo:
    title: str
    severity: Severity = Severity.ERROR
    default_hint: str | None = None


_W = Severity.WARNING
SECRET_CODES = frozenset({"JC704", "JC967"})  # their located value may be a secret: never show it
# Located at a link leading out of the project: the file there is never opened, not even to
# show its first line (it may be /etc/shadow).
UNREAD_CODES = frozenset({"JC906"})

# The stable catalogue. Codes are never reused; docs/errors.md lists each one (a test checks).
CODES: dict[str, CodeInfo] = {
    # files and YAML
    "JC001": CodeInfo("file not found or unreadable"),
    "JC002": CodeInfo("file is not valid UTF-8", default_hint="save the file as UTF-8"),
    "JC003": CodeInfo("YAML syntax error"),
    "JC004": CodeInfo("duplicate key", default_hint="remove or rename one of the two keys"),
    "JC005": CodeInfo("YAML too large or too deep (alias expansion, nesting)"),
    "JC006": CodeInfo("unsupported YAML feature (tags, several documents, complex keys)"),
    # structure (JSON Schema)
    "JC101": CodeInfo("unknown key"),
    "JC102": CodeInfo("missing required key"),
    "JC103": CodeInfo("wrong type"),
    "JC104": CodeInfo("value not allowed"),
    "JC105": CodeInfo("step kind missing or ambiguous"),
    # ids, references and the step graph
    "JC201": CodeInfo("duplicate journey id"),
    "JC202": CodeInfo("duplicate step id"),
    "JC203": CodeInfo("unknown step reference"),
    "JC204": CodeInfo("unreachable step", _W, "remove the step or point a `next` at it"),
    "JC205": CodeInfo(
        "cycle without a wait",
        default_hint="put a `wait`, `wait_for` or `wait: {until}` step inside the loop",
    ),
    "JC206": CodeInfo("loop target does not lead back to the loop"),
    "JC207": CodeInfo("journey has no steps"),
    "JC208": CodeInfo("invalid `migrate` mapping"),
    "JC210": CodeInfo("split weights do not sum to 100"),
    "JC211": CodeInfo("split weight is not a whole number"),
    "JC212": CodeInfo("duplicate split variant"),
    "JC213": CodeInfo("branch `else` is not last"),
    "JC214": CodeInfo("`next` on a step kind that ignores it"),
    "JC216": CodeInfo("invalid `decide` of a split"),
    # values
    "JC301": CodeInfo(
        "invalid duration", default_hint="write a duration like 30s, 15m, 6h, 3d, 2w or 1d12h"
    ),
    "JC302": CodeInfo("invalid time of day", default_hint='write a 24-hour time like "09:30"'),
    "JC303": CodeInfo("invalid day name", default_hint="use mon, tue, wed, thu, fri, sat, sun"),
    "JC304": CodeInfo("invalid cron expression"),
    "JC305": CodeInfo("unknown time zone", default_hint="use an IANA zone name like Asia/Seoul"),
    "JC306": CodeInfo("invalid rate limit", default_hint="write a rate like 100/s, 20/m or 5000/h"),
    "JC307": CodeInfo("invalid value"),
    # CEL conditions
    "JC401": CodeInfo("CEL syntax error"),
    "JC402": CodeInfo("unknown variable in expression"),
    "JC403": CodeInfo("unknown event property"),
    "JC404": CodeInfo("unknown profile attribute"),
    "JC405": CodeInfo(
        "invalid count() call",
        default_hint='write count("event_name", duration("168h")) with constant arguments',
    ),
    "JC406": CodeInfo("unknown function in expression"),
    "JC407": CodeInfo("unknown field of a built-in variable"),
    "JC408": CodeInfo("expression may cost too much to evaluate"),
    # events and the catalog
    "JC501": CodeInfo("unknown event", default_hint="add the event to the catalog (events.yaml)"),
    "JC502": CodeInfo("invalid catalog entry"),
    # templates
    "JC601": CodeInfo("template not found"),
    "JC602": CodeInfo("Liquid syntax error"),
    "JC603": CodeInfo("template channel does not match the send step"),
    "JC604": CodeInfo("unknown variable in template"),
    "JC605": CodeInfo("template misses a field its channel needs"),
    "JC606": CodeInfo("template has a field its channel does not use"),
    "JC607": CodeInfo("unknown Liquid filter"),
    "JC608": CodeInfo("template is never used", _W),
    "JC609": CodeInfo("unknown snippet"),
    "JC610": CodeInfo("snippet name is not a quoted string"),
    "JC611": CodeInfo("snippet is never used", _W),
    "JC612": CodeInfo("snippets render each other in a loop"),
    "JC613": CodeInfo("template runs more loop iterations than a message may"),
    "JC614": CodeInfo("template writes more than a message may"),
    "JC615": CodeInfo("`| safe` on a value that is not a trusted catalog field", _W),
    "JC616": CodeInfo("AlimTalk text does not match the approved template"),
    "JC617": CodeInfo("AlimTalk template without template_code or approved text"),
    "JC618": CodeInfo("promotional send on an AlimTalk channel"),
    # channels
    "JC701": CodeInfo("unknown channel"),
    "JC702": CodeInfo("unknown adapter"),
    "JC704": CodeInfo(
        "credential written inline",
        default_hint="name an environment variable instead: `env:NAME`; never commit a secret",
    ),
    "JC705": CodeInfo("channel attribute not in the profile catalog"),
    # send policy and compliance
    "JC801": CodeInfo("invalid cap"),
    "JC803": CodeInfo("unknown compliance pack", default_hint="known packs: kr"),
    "JC810": CodeInfo("kr: advertising text must start with (광고)"),
    "JC811": CodeInfo("kr: advertising text must include an opt-out instruction"),
    "JC812": CodeInfo("kr: advertising email subject should start with (광고)", _W),
    "JC820": CodeInfo("journey can send more promotional messages than a project cap allows", _W),
    # command-line names, simulate's window, output files
    "JC930": CodeInfo("no journey with that id in the project"),
    "JC931": CodeInfo("invalid --start or --until"),
    "JC932": CodeInfo("output file or folder cannot be written"),
    "JC935": CodeInfo("experiments: no usable results, or no winner yet"),
    "JC936": CodeInfo("experiments: no running split at JOURNEY/STEP"),
    # journey tests
    "JC950": CodeInfo("journey test names something the project does not have"),
    "JC951": CodeInfo("journey test time is not valid",
                      default_hint="write +6h, +1d12h, +0, RFC 3339 or 'YYYY-MM-DD HH:MM'"),
    "JC952": CodeInfo("journey test event or profile is rejected by the catalog"),
    # state, plan and apply
    "JC960": CodeInfo("state file unreadable or not a journeyctl state"),
    "JC961": CodeInfo("state written by a newer journeyctl"),
    "JC962": CodeInfo("state is locked"),
    "JC963": CodeInfo("state lock left by a process that is gone"),
    "JC964": CodeInfo("plan file invalid or edited"),
    "JC965": CodeInfo("plan or state of another project"),
    "JC966": CodeInfo("plan is stale"),
    "JC967": CodeInfo("invalid state URL"),
    "JC968": CodeInfo("apply needs confirmation"),
    "JC969": CodeInfo("no such state, journey or version"),
    "JC986": CodeInfo("state copy: the target holds a state, or is the source"),
    "JC987": CodeInfo("state copy: the source is in use, or the copy did not count the same"),
    "JC990": CodeInfo("history: the project given twice"),
    # channel adapters and delivery
    "JC970": CodeInfo("credential environment variable not set",
                      default_hint="export the variable where journeyctl runs"),
    "JC971": CodeInfo("template cannot be rendered for this message"),
    "JC972": CodeInfo("template renders empty content for this profile"),
    "JC973": CodeInfo("profile has no address for the channel"),
    "JC974": CodeInfo("invalid send-test input"),
    "JC975": CodeInfo("send-test names an unknown channel or template"),
    "JC976": CodeInfo("fake provider cannot listen on the port"),
    "JC977": CodeInfo("credential value is not usable"),
    "JC978": CodeInfo("fake provider fault options cannot be played"),
    # the daemon
    "JC980": CodeInfo("serve: nothing is applied to the state"),
    "JC981": CodeInfo("serve: non-loopback address without an API token"),
    "JC982": CodeInfo("serve: cannot listen on the address"),
    "JC983": CodeInfo("serve: invalid --base-url"),
    "JC984": CodeInfo("serve: --public-url without a usable unsubscribe secret"),
    # project
    "JC901": CodeInfo("project has no journeys", _W),
    "JC902": CodeInfo("project setting refers to a missing path"),
    "JC905": CodeInfo("project path setting leads out of the project folder"),
    "JC906": CodeInfo("project file is a link leading out of the project folder"),
}


def diagnostic(code: str, message: str, loc: Loc, hint: str | None = None,
               path: tuple[str | int, ...] = ()) -> Diagnostic:
    """A diagnostic with the catalogue's severity and, when none is given, its default hint."""
    info = CODES[code]
    return Diagnostic(code, message, loc, hint or info.default_hint, info.severity, path)
