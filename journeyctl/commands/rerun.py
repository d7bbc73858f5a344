"""Hints that rerun the command the user typed, with the project folder corrected, so that
pasting the hint does what they meant (`journeyctl simulate --events x.jsonl` run from the
repository root -> `journeyctl simulate journeys --events x.jsonl`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from journeyctl.diagnostics import JourneyctlError
from journeyctl.hints import command
from journeyctl.project import Loaded, NoProject, display_path, validate


def validate_here(path: Path) -> Loaded:
    """`validate(path)`; when there is no project at `path` but one is near, the error's hint
    is this very command run on that project."""
    try:
        return validate(path)
    except NoProject as exc:
        raise with_rerun_hint(exc) from None


def with_rerun_hint(exc: NoProject) -> JourneyctlError:
    """`exc` with this command run on the project it found as its hint; with one command per
    project when it found several (`projects below it: a, b — journeyctl validate a; or
    journeyctl validate b`)."""
    first = exc.diagnostics[0]
    commands = [c for found in exc.found if (c := rerun_command(exc.given, found))]
    if not commands:
        return exc
    if len(commands) > 1:
        hint = f"{first.hint} — " + "; or ".join(commands)
    else:
        hint = f"{first.hint}{' ' if (first.hint or '').endswith('?') else ': '}{commands[0]}"
    return JourneyctlError([replace(first, hint=hint)])


# The commands whose project folder is the --project option (the others take it as their first
# argument); tests/test_hints.py checks this against the CLI.
PROJECT_OPTION = frozenset({"graph", "history", "rollback", "force-unlock"})
# Of those, the ones whose argument may be the project too (`history PROJECT | JOURNEY`).
PROJECT_EITHER_WAY = frozenset({"history"})
_FLAGS = ("--project", "-p")


def rerun_command(given: Path, found: Path, argv: list[str] | None = None) -> str | None:
    """This run's command line (`argv`, default sys.argv) with the project folder `given`
    replaced by `found` where it was typed (the argument, or the value of --project), or added
    where it was left to its default; None when the command line is not a journeyctl
    command's. The project is named once: a --project beside the argument that was the
    project is dropped."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in args if not a.startswith("-")), None)
    if name is None:
        return None
    args.remove(name)
    new = display_path(found)
    flag = next((i for i, a in enumerate(args[:-1]) if a in _FLAGS), None)
    if name in PROJECT_OPTION and flag is not None and Path(args[flag + 1]) == given:
        args[flag:flag + 2] = ["--project", new]  # hints spell the option one way
        return command(name, *args)
    typed = next((i for i, a in enumerate(args) if not a.startswith("-") and Path(a) == given
                  and (flag is None or i != flag + 1)), None)
    if typed is not None and (name not in PROJECT_OPTION or name in PROJECT_EITHER_WAY):
        args[typed] = new
        if flag is not None and name in PROJECT_OPTION:
            del args[flag:flag + 2]
    elif name not in PROJECT_OPTION:
        args.insert(0, new)
    else:
        args += ["--project", new]
    return command(name, *args)


def with_word_replaced(old: str | Path, new: str | Path, argv: list[str] | None = None
                       ) -> str | None:
    """This run's command line (`argv`, default sys.argv) with the word that names `old` (a
    path as typed, or the value of `--option=old`) replaced by `new`; None when it has none."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, word in enumerate(args[1:], start=1):  # args[0] is the command's name
        flag, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value and Path(value) == Path(old):
            args[i] = f"{flag}{equals}{new}"
            return command(*args)
    return None
