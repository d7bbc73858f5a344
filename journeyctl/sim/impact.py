"""What a change does to the numbers (`plan --events`): two `simulate` reports of one event log,
the applied versions' and the files', compared per changed journey and step.

Pure: it reads the reports' JSON (SPEC §8), so the numbers are exactly those two `simulate
--json` runs print. Only rows whose numbers differ are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The journey's own numbers, then each step's: reached, sends by channel, suppressions by reason.
JOURNEY_METRICS = ("entered", "conversions", "revenue", "cost")
STEP_KEYED = (("sent", "sent_by_channel"), ("suppressed", "suppressed"))


@dataclass(frozen=True)
class Row:
    journey: str
    step: str | None  # None: the journey's own numbers
    metric: str  # entered, conversions, revenue, cost; reached, sent, suppressed
    key: str | None  # sent: the channel; suppressed: the reason
    before: float
    after: float

    @property
    def delta(self) -> float:
        # the reports round money to 4 places: so does the difference, or 0.1 + 0.2 shows
        return round(self.after - self.before, 4)

    @property
    def label(self) -> str:
        return f"{self.metric} ({self.key})" if self.key else self.metric

    def to_json(self) -> dict[str, Any]:
        return {"journey": self.journey, "step": self.step, "metric": self.metric,
                "key": self.key, "before": self.before, "after": self.after,
                "delta": self.delta}


@dataclass(frozen=True)
class Impact:
    events: tuple[str, ...]  # the event logs, as given
    profiles: str | None
    window: Mapping[str, Any]  # the files' run's {"start", "until"}
    baseline: int | None  # the state's serial that was simulated; None: nothing applied
    rows: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        return {"events": list(self.events), "profiles": self.profiles,
                "window": dict(self.window), "baseline_serial": self.baseline,
                "rows": [row.to_json() for row in self.rows]}

    def markdown(self) -> str:
        return markdown(self)

    def text_lines(self) -> list[str]:
        return text_lines(self)


def compare(before: Mapping[str, Any] | None, after: Mapping[str, Any],
            journeys: Iterable[str]) -> list[Row]:
    """The rows that differ between two reports, for `journeys`, in that order; a journey's
    steps in the files' order, then the steps only the applied version has. `before` None:
    nothing is applied, every number was 0."""
    old_reports = (before or {}).get("journeys", {})
    rows: list[Row] = []
    for journey in journeys:
        rows += _journey_rows(journey, old_reports.get(journey, {}),
                              after["journeys"].get(journey, {}))
    return [row for row in rows if row.delta]


def _journey_rows(journey: str, old: Mapping[str, Any], new: Mapping[str, Any]
                  ) -> Iterator[Row]:
    for metric in JOURNEY_METRICS:
        yield Row(journey, None, metric, None, old.get(metric, 0), new.get(metric, 0))
    old_steps, new_steps = old.get("steps", {}), new.get("steps", {})
    for step in [*new_steps, *(s for s in old_steps if s not in new_steps)]:
        was, now = old_steps.get(step, {}), new_steps.get(step, {})
        yield Row(journey, step, "reached", None, was.get("reached", 0), now.get("reached", 0))
        for metric, field in STEP_KEYED:
            was_by, now_by = was.get(field, {}), now.get(field, {})
            for key in sorted({*was_by, *now_by}):
                yield Row(journey, step, metric, key, was_by.get(key, 0), now_by.get(key, 0))


# --- rendering -------------------------------------------------------------------------------

HEADER = ("journey", "step", "number", "before", "after", "change")


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def _signed(value: float) -> str:
    text = _number(abs(value))
    return f"+{text}" if value > 0 else f"-{text}"


def _cells(row: Row) -> tuple[str, ...]:
    return (row.journey, row.step or "", row.label, _number(row.before), _number(row.after),
            _signed(row.delta))


def _source(impact: Impact, quote: Callable[[str], str] = str) -> str:
    files = ", ".join(map(quote, impact.events))
    if impact.profiles:
        files += f" with profiles {quote(impact.profiles)}"
    until = impact.window.get("until")
    return files + (f", until {until}" if until else "")


def _code(text: str) -> str:
    return f"`{text}`"


def _baseline(impact: Impact) -> str:
    return ("nothing applied (every number 0)" if impact.baseline is None
            else f"the applied versions (serial {impact.baseline})")


def text_lines(impact: Impact) -> list[str]:
    """For people: a heading and an aligned table (numbers to the right)."""
    head = [f"Simulated on {_source(impact)}: {_baseline(impact)} → the files."]
    if not impact.rows:
        return [*head, "No simulated number of a changed journey changes."]
    table = [HEADER, *(_cells(row) for row in impact.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    out = []
    for line in table:
        left = [cell.ljust(width) for cell, width in zip(line[:3], widths[:3], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(line[3:], widths[3:], strict=True)]
        out.append(("  " + "  ".join([*left, *right])).rstrip())
    return [*head, *out]


def markdown(impact: Impact) -> str:
    """For a pull-request comment: a compact table of what changes, after the plan."""
    head = (f"\n#### Simulated impact\n\nOn {_source(impact, _code)}: {_baseline(impact)} "
            "→ this branch's files; only the numbers that change.\n")
    if not impact.rows:
        return head + "\nNo simulated number of a changed journey changes.\n"
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---|--:|--:|--:|"]
    for row in impact.rows:
        journey, step, label, *numbers = _cells(row)
        names = [_code(journey), _code(step) if step else "", label]
        lines.append("| " + " | ".join([*names, *numbers]) + " |")
    return head + "\n" + "\n".join(lines) + "\n"
