"""Per-message and per-user outputs of a run: the messages file and one user's trace."""

from __future__ import annotations

import datetime as dt
import heapq
import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from journeyctl.engine import effects as fx
from journeyctl.records import Record
from journeyctl.timefmt import rfc3339


def message_row(e: fx.Send) -> dict[str, Any]:
    return {"time": rfc3339(e.time), "user_id": e.user_id, "journey": e.journey, "step": e.step,
            "channel": e.channel, "template": e.template, "category": e.category,
            "variant": e.variant}


def _key(e: fx.Send) -> tuple[Any, ...]:
    return (e.time, e.user_id, e.journey, e.instance, e.step, e.visit)


class Messages:
    """Every sent message, for `--messages`: written sorted by time (users run on their own
    clocks, so messages do not arrive in global time order). Past `SPILL` messages, sorted
    runs go to temporary files and are merged when written, so memory stays bounded."""

    SPILL = 200_000

    def __init__(self, folder: Path | None = None) -> None:
        self.sent: list[fx.Send] = []
        self.runs: list[Path] = []
        self._folder = folder
        self._cleanup: weakref.finalize | None = None

    def reset(self) -> None:
        self.sent, self.runs = [], []

    def effect(self, effect: Any) -> None:
        if type(effect) is fx.Send:
            # without what it renders from: this host does not render, and memory counts
            self.sent.append(effect._replace(moment=None))
            if len(self.sent) >= self.SPILL:
                self.spill()

    def folder(self) -> Path:
        """A temporary folder for the runs, removed by `close()` or when this is collected."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="journeyctl-messages-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder

    def spill(self) -> None:
        """Write the collected messages as one sorted run."""
        if not self.sent:
            return
        handle_no, name = tempfile.mkstemp(suffix=".run", dir=self.folder())
        os.close(handle_no)
        path = Path(name)
        with path.open("wb") as handle:
            pickler = pickle.Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL)
            for sent in sorted(self.sent, key=_key):
                pickler.dump(tuple(sent))
                pickler.clear_memo()
        self.runs.append(path)
        self.sent = []

    def ordered(self) -> Iterator[fx.Send]:
        return heapq.merge(sorted(self.sent, key=_key), *(_load(p) for p in self.runs),
                           key=_key)

    def rows(self) -> list[dict[str, Any]]:
        return [message_row(e) for e in self.ordered()]

    def write(self, path: Path) -> int:
        count = 0
        with path.open("wb") as handle:
            for sent in self.ordered():
                handle.write(orjson.dumps(message_row(sent)) + b"\n")
                count += 1
        return count

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()


def _load(path: Path) -> Iterator[fx.Send]:
    with path.open("rb") as handle:
        unpickler = pickle.Unpickler(handle)
        while True:
            try:
                yield fx.Send(*unpickler.load())
            except EOFError:
                return


@dataclass(frozen=True)
class TraceLine:
    time: float
    kind: str
    journey: str | None
    text: str


class Trace:
    """One user's timeline: their events, entries, steps, sends and suppressions, with why."""

    def __init__(self, user_id: str, tz: ZoneInfo | None = None) -> None:
        self.user_id = user_id
        self.tz = tz or ZoneInfo("UTC")
        self.lines: list[TraceLine] = []

    def reset(self) -> None:
        self.lines = []

    def event(self, record: Record) -> None:
        if record.user_id == self.user_id:
            props = orjson.dumps(record.properties, default=str).decode()
            self.lines.append(TraceLine(record.time, "event", None,
                                        f"{record.name} {props}" if record.properties
                                        else record.name))

    def duplicate(self, record: Record) -> None:
        if record.user_id == self.user_id:
            self.lines.append(TraceLine(record.time, "duplicate", None,
                                        f"{record.name} (event_id {record.event_id} seen before)"))

    def effect(self, effect: Any) -> None:
        if getattr(effect, "user_id", None) != self.user_id:
            return
        text = describe(effect, self.tz)
        if text is not None:
            self.lines.append(TraceLine(effect.time, _kind(effect),
                                        getattr(effect, "journey", None), text))


def _kind(effect: Any) -> str:
    return {fx.Entered: "enter", fx.StepReached: "step", fx.Send: "send",
            fx.Suppressed: "suppress", fx.Held: "hold", fx.Converted: "convert",
            fx.Exited: "exit", fx.VariantAssigned: "variant", fx.ProfileUpdated: "profile",
            fx.ExpressionFailed: "error", fx.NotEntered: "no-entry"}.get(type(effect), "other")


def describe(e: Any, tz: ZoneInfo) -> str | None:
    if isinstance(e, fx.Entered):
        return f"entered (instance {e.instance})"
    if isinstance(e, fx.StepReached):
        via = f" via {e.label!r}" if e.label else ""
        return f"→ {e.step}{via}" + (f" (visit {e.visit})" if e.visit > 1 else "")
    if isinstance(e, fx.Send):
        fallback = f", fallback #{e.option}" if e.option else ""
        variant = f", {e.variant}" if e.variant else ""
        return f"sent {e.channel}: {e.template} [{e.category}{fallback}{variant}]"
    if isinstance(e, fx.Suppressed):
        return f"suppressed at {e.step}: {e.reason}"
    if isinstance(e, fx.Held):
        until = dt.datetime.fromtimestamp(e.until, tz).strftime("%Y-%m-%d %H:%M")
        return f"held at {e.step} until {until} ({e.reason})"
    if isinstance(e, fx.VariantAssigned):
        return f"split {e.step}: variant {e.variant}"
    if isinstance(e, fx.Converted):
        return f"converted, value {e.value:g}"
    if isinstance(e, fx.Exited):
        where = f" at {e.step}" if e.step else ""
        return f"left: {e.reason}{where}"
    if isinstance(e, fx.ProfileUpdated):
        changes = orjson.dumps(e.changes, default=str).decode()
        return f"profile updated {changes}"
    if isinstance(e, fx.ExpressionFailed):
        return f"{e.where} failed ({e.error}): counted as false"
    if isinstance(e, fx.NotEntered):
        return f"not entered: {e.reason}"
    return None
