"""Faults the fake provider plays, to rehearse outages: an error status (with `Retry-After`),
slow answers, every Nth request only, refused connections — each for a while, or until cleared.

The same `Fault` comes from `journeyctl fake-provider --fail 500 --for 30s`, from the control
endpoint (`POST /_fake/fault {"fail": 500, "for": "30s"}`) and from tests
(`fake.inject(Fault(fail=500, duration=30))`), so all three rehearse the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from journeyctl.timeparse import parse_duration

# The JSON keys of the control endpoint; the command's options are the same names, --dashed.
FIELDS = ("fail", "retry_after", "delay", "every", "refuse", "for")


@dataclass(frozen=True)
class Problem:
    """Why a fault cannot be played: the field at fault, what is wrong, how to fix it."""

    field: str
    message: str
    fix: str | None = None


class FaultError(ValueError):
    """A fault that cannot be played."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Fault:
    """What to do to requests: answer `fail` (an HTTP status, with `Retry-After: retry_after`)
    instead of the normal answer, and/or answer `delay` seconds late — to every `every`th
    request; or `refuse` connections. For `duration` seconds, or until cleared (None)."""

    fail: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    every: int = 1
    refuse: bool = False
    duration: float | None = None

    def problems(self, name: Callable[[str], str] = str) -> list[Problem]:
        """What does not go together, each with how to fix it; `name` spells a field as the
        user wrote it (`--retry-after` on the command line)."""
        found: list[Problem] = []

        def check(field: str, wrong: bool, what: str, fix: str) -> None:
            if wrong:
                found.append(Problem(field, f"{name(field)} {what}", fix))

        fail, delay, every, refuse, duration = (name("fail"), name("delay"), name("every"),
                                                name("refuse"), name("for"))
        check("fail", self.fail is not None and not 400 <= self.fail <= 599,
              f"must be an error status from 400 to 599, not {self.fail}", f"{fail} 503")
        check("retry_after", self.retry_after is not None and self.fail is None,
              f"needs {fail}: a Retry-After goes with an error status", f"add {fail} 429")
        check("every", self.every < 1, "must be 1 or more", f"{every} 3")
        check("every", self.every > 1 and self.fail is None and not self.delay,
              f"needs {fail} or {delay}: it says which requests they hit",
              f"add {fail} 500 or {delay} 2s")
        check("refuse", self.refuse and (self.fail is not None or bool(self.delay)
                                         or self.every > 1),
              "goes alone: a refused connection gets no status and no delay",
              f"leave out {fail}, {delay} and {every}, or {refuse}")
        check("refuse", self.refuse and self.duration is None,
              f"needs {duration}: refusing connections for good would leave nothing to "
              "rehearse", f"add {duration} 30s")
        check("for", self.duration is not None and not self.active,
              f"needs a fault to time: {fail}, {delay} or {refuse}", f"add {fail} 500")
        return found

    @property
    def active(self) -> bool:
        """Does anything at all (a Fault() with no field set is 'no fault')."""
        return self.fail is not None or bool(self.delay) or self.refuse

    def describe(self) -> str:
        """`HTTP 500 (Retry-After: 5) to every 3rd request, 2s late, for 30s`."""
        until = f" for {self.duration:g}s" if self.duration is not None else " until cleared"
        if self.refuse:
            return "refusing connections" + until
        head = "normal answers"
        if self.fail is not None:
            wait = "" if self.retry_after is None else f" (Retry-After: {self.retry_after:g})"
            head = f"HTTP {self.fail}{wait}"
        whom = "every request" if self.every == 1 else f"every {_nth(self.every)} request"
        late = f", {self.delay:g}s late," if self.delay else ""
        return f"{head} to {whom}{late}{until}"

    def to_json(self) -> dict[str, Any]:
        return {"fail": self.fail, "retry_after": self.retry_after, "delay": self.delay,
                "every": self.every, "refuse": self.refuse, "for": self.duration}

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """The fault a control request asks for; FaultError says what is wrong with it."""
        if not isinstance(data, Mapping):
            raise FaultError([Problem("", 'the body must be a JSON object such as '
                                          '{"fail": 500, "for": "30s"}')])
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise FaultError([Problem(key, f"unknown field {key!r} (known: "
                                           f"{', '.join(FIELDS)})") for key in unknown])
        problems: list[Problem] = []

        def read(key: str, parse: Callable[[Any], Any], default: Any) -> Any:
            value = data.get(key)
            if value is None:
                return default
            parsed = parse(value)
            if parsed is None:
                problems.append(Problem(key, f"{key}: {value!r} is not {_EXPECTED[key]}"))
            return default if parsed is None else parsed

        fault = cls(fail=read("fail", _integer, None),
                    retry_after=read("retry_after", seconds, None),
                    delay=read("delay", seconds, 0.0), every=read("every", _integer, 1),
                    refuse=read("refuse", _boolean, False), duration=read("for", seconds, None))
        problems += fault.problems()
        if problems:
            raise FaultError(problems)
        return fault


_EXPECTED = {"fail": "an HTTP status", "retry_after": "a number of seconds or a duration",
             "delay": "a number of seconds or a duration", "every": "a whole number",
             "refuse": "true or false", "for": "a number of seconds or a duration"}


def seconds(value: Any) -> float | None:
    """A number of seconds (`2`, `0.5`) or a duration (`30s`, `5m`, `1h`); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            duration = parse_duration(value)
            return float(duration.seconds) if duration else None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Playing:
    """A fault being played: which requests it hits (`every` counts from when it started)."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.requests = 0

    def hits(self) -> bool:
        """Count one request; does the fault apply to it?"""
        self.requests += 1
        return self.requests % self.fault.every == 0
