"""`journeyctl plan`: what `apply` would change, per journey, with in-flight users."""

from __future__ import annotations

import json
import os
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.state_common import (
    Given,
    print_plan,
    refuse_other_project,
    source,
    state_ref,
    valid_project,
)
from journeyctl.diagnostics import JourneyctlError, diagnostic, option
from journeyctl.hints import command, shell
from journeyctl.model import Project
from journeyctl.plan import desired, is_plan_file, make_plan, seal, to_markdown
from journeyctl.project import PROJECT_FILE

if TYPE_CHECKING:
    from journeyctl.commands.plan_impact import Replayed

EXIT_CHANGES = 2


@dataclass(frozen=True)
class Replay:
    """`plan --events`: the event log both the applied versions and the files run on."""

    events: list[Path]
    profiles: Path | None
    until: str | None


def run(project_path: Path, state_url: str | None, output_format: str, out: Path | None,
        detailed: bool, replay: Replay | None = None) -> int:
    loaded = valid_project(project_path)
    project = loaded.project
    assert project is not None
    given = Given(project_path, state_url)
    if out is not None:
        _check_out(out, given)
    replayed = _replayed(replay, project) if replay else None
    ref = state_ref(loaded, given)
    with closing(ref.open(readonly=True)) as store:  # plan never writes the state
        snapshot = store.snapshot()
        refuse_other_project(snapshot, project.name, ref)
        applied = replayed.applied(store) if replayed else None
    plan = make_plan(desired(project, loaded.docs), snapshot, time.time(), ref.shown,
                     str(ref.path), state_url).with_source(source(loaded))
    impact = replayed.measure(applied, plan) if replayed else None
    sealed = seal({**plan.to_json(), **({"impact": impact.to_json()} if impact else {})})
    if out is not None:
        _save(out, json.dumps(sealed, ensure_ascii=False, indent=2) + "\n")
    if output_format == "json":
        print(json.dumps(sealed, ensure_ascii=False, indent=2))
    elif output_format == "markdown":
        print(to_markdown(plan) + (impact.markdown() if impact else ""), end="")
    else:
        print_plan(plan)
        if impact:
            print("\n" + "\n".join(impact.text_lines()))
        if out is not None:
            print(f"\nSaved the plan to {out}: {command('apply', out)}")
    return EXIT_CHANGES if detailed and plan.has_changes else EXIT_OK


def _replayed(replay: Replay, project: Project) -> Replayed:
    """The inputs of `--events` checked before anything runs (the simulator is imported only
    when it is to run)."""
    from journeyctl.commands.plan_impact import Replayed

    return Replayed(replay, project)


def _check_out(out: Path, given: Given) -> None:
    """Before planning: `--out` names a file in a folder that exists, and not a file of another
    kind (a plan never replaces a project's journeyctl.yaml, a journey, a note: only an earlier
    plan)."""
    again = command("plan", *given.args(), "--out", out / "plan.json")
    if out.name == PROJECT_FILE or (out.is_file() and not _holds_a_plan(out)):
        what = ("`apply` reads a journeyctl.yaml as a project" if out.name == PROJECT_FILE
                else "the file exists and is not a journeyctl plan")
        other = command("plan", *given.args(), "--out", _free_name(out.parent))
        raise JourneyctlError([diagnostic(
            "JC964", f"cannot save the plan to {out}: {what}", option("--out"),
            f"choose another name: {other}")])
    if out.is_dir():
        raise JourneyctlError([diagnostic(
            "JC964", f"{out} is a folder", option("--out"),
            f"name a file to save the plan in: {again}")])
    folder = out.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "was not found"
        again = shell("mkdir", "-p", folder) + " && " + command(
            "plan", *given.args(), "--out", out)
        raise JourneyctlError([diagnostic(
            "JC964", f"cannot save the plan to {out}: the folder {folder} {what}",
            option("--out"), f"create the folder first: {again}" if not folder.exists()
            else "save the plan in a folder")])


def _holds_a_plan(path: Path) -> bool:
    try:
        return is_plan_file(json.loads(path.read_bytes()))
    except (OSError, ValueError):  # unreadable, not UTF-8, not JSON: not ours to replace
        return False


def _free_name(folder: Path) -> Path:
    """A name in `folder` a plan can be saved as: free, or an earlier plan's."""
    names = ("plan.json", *(f"plan-{n}.json" for n in range(2, 1000)))
    return next(folder / name for name in names
                if not (folder / name).exists() or _holds_a_plan(folder / name))


def _save(out: Path, text: str) -> None:
    """Write the plan file whole or not at all (a temporary file renamed over it)."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, out)
    except OSError as exc:
        with suppress(OSError):
            temporary.unlink()
        raise JourneyctlError([diagnostic(
            "JC964", f"cannot save the plan to {out}: {exc.strerror or exc}", option("--out"),
            "save the plan where you can write")]) from exc
