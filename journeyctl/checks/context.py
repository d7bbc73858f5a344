"""What every check receives: the project, the parsed files (for locations) and a collector."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from journeyctl.diagnostics import Collector, Loc
from journeyctl.model import Project
from journeyctl.yamlload import Doc


@dataclass
class CheckContext:
    project: Project
    docs: Mapping[str, Doc]
    out: Collector

    def add(self, code: str, message: str, loc: Loc, hint: str | None = None) -> None:
        self.out.add(code, message, loc, hint)


def did_you_mean(name: str, known: Iterable[str], what: str = "known") -> str | None:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"{what}: {', '.join(names)}" if names else None
