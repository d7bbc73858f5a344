"""`journeyctl experiments`: every split's results and whether it has a winner; `--promote
JOURNEY/STEP` rewrites that split's weights in its journey file to send everyone to the winner."""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeyctl import experiments as ex
from journeyctl import model as m
from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.commands.common import project_errors, valid_project
from journeyctl.commands.state_common import Given
from journeyctl.diagnostics import JourneyctlError, diagnostic, option
from journeyctl.hints import close_names, command
from journeyctl.project import Loaded, validate
from journeyctl.yamlload import decode, parse

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Request:
    project: Path
    state: str | None
    results: Path | None
    promote: str | None
    as_json: bool


def run(request: Request) -> int:
    loaded = valid_project(request.project, "no experiment was judged")
    project = loaded.project
    assert project is not None
    report = _report(request, loaded)
    if request.promote is None:
        found = ex.experiments(project, report)
        print(json.dumps(_listing(found, report), indent=2) if request.as_json
              else _text(found, report, request))
        return EXIT_OK
    return _promote(request, loaded, report, request.promote)


# --- where the results come from --------------------------------------------------------------


def _report(request: Request, loaded: Loaded) -> dict[str, Any]:
    assert loaded.project is not None
    if request.results is not None:
        return read_results(request.results, loaded.project.name)
    from journeyctl.commands.state_common import open_state
    from journeyctl.live import live_report

    store, _, _ = open_state(Given(request.project, request.state))
    with closing(store):
        return live_report(store, loaded.project)


def read_results(path: Path, project: str) -> dict[str, Any]:
    """A saved report (`simulate --json`, or a live report) of this project."""
    flag = "--results"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyctlError([diagnostic(
            "JC001", f"cannot read {path}: {exc.strerror or exc}", option(flag),
            "give a report saved with `journeyctl simulate PROJECT --events FILE --json > "
            "report.json`")]) from exc
    try:
        report = json.loads(text)
    except ValueError as exc:
        raise _unusable(path, f"not JSON ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("journeys"), dict):
        raise _unusable(path, "not a journeyctl report (it has no `journeys`)")
    if report.get("project") not in (None, project):
        raise _unusable(path, f"a report of project '{report['project']}', not '{project}'")
    return report


def _unusable(path: Path, why: str) -> JourneyctlError:
    return JourneyctlError([diagnostic(
        "JC935", f"{path} cannot be judged: {why}", option("--results"),
        "give the JSON that `journeyctl simulate PROJECT --events FILE --json` prints, saved "
        "to a file")])


# --- the listing ------------------------------------------------------------------------------


def _listing(found: list[ex.Experiment], report: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "project": report.get("project"),
            "source": report.get("source", "simulation"), "window": report.get("window"),
            "experiments": [e.as_json() for e in found]}


def _text(found: list[ex.Experiment], report: dict[str, Any], request: Request) -> str:
    source = report.get("source", "simulation")
    lines = [f"{len(found)} split{'s' * (len(found) != 1)} (results: {source})"]
    for e in found:
        rule = (f"min {e.rule.min_per_variant} per variant, confidence {e.rule.confidence:g}"
                + ("" if e.declared else " (default rule)"))
        lines.append(f"\n{e.journey}/{e.step}: {rule}")
        for a in e.arms:
            lines.append("  " + _arm_line(a))
        lines.append("  " + _verdict(e, request))
    return "\n".join(lines)


def _arm_line(a: ex.Arm) -> str:
    rate = "-" if a.rate is None else f"{a.rate:.2%}"
    versus = "control" if a.control else (
        f"lift {_num(a.lift, '+.1%')}, p {_p(a.p_value)}")
    sample = "sample reached" if a.sample_reached else "sample not reached"
    return (f"{a.name:<12} weight {a.weight:>3}  entered {a.entered:>7}  conversions "
            f"{a.conversions:>6}  rate {rate:>7}  {versus}; {sample}")


def _p(value: float | None) -> str:
    """The report rounds p to 4 places: 0 there is below 0.0001."""
    return "< 0.0001" if value == 0 else _num(value, ".3g")


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _verdict(e: ex.Experiment, request: Request) -> str:
    if e.promoted is not None:
        return f"promoted: everyone goes to {e.promoted}"
    if e.decision.winner is not None:
        return f"winner: {e.decision.winner} — to promote it: {_promote_command(e, request)}"
    return "no winner yet: " + "; ".join(e.decision.reasons)


def _promote_command(e: ex.Experiment, request: Request) -> str:
    """This listing's command with `--promote JOURNEY/STEP`: judged on the same results."""
    words: list[str | Path] = [] if request.project == Path(".") else [request.project]
    if request.results is not None:
        words += ["--results", request.results]
    elif request.state is not None:
        words += ["--state", request.state]
    return command("experiments", *words, "--promote", f"{e.journey}/{e.step}")


# --- promote ----------------------------------------------------------------------------------


def _promote(request: Request, loaded: Loaded, report: dict[str, Any], target: str) -> int:
    project = loaded.project
    assert project is not None
    journey, step, split = _find_split(project, target)
    if (already := next((v.name for v in split.variants if v.weight == 100), None)):
        raise JourneyctlError([diagnostic(
            "JC936", f"{target} is already promoted: every user goes to {already}",
            option("--promote"), "nothing to do; to run the experiment again, set the "
            "weights back in the journey file")])
    found = ex.experiment(journey, step, split, report)
    winner = found.decision.winner
    if winner is None:
        raise JourneyctlError([diagnostic(
            "JC935", f"{target} has no winner yet: " + "; ".join(found.decision.reasons),
            option("--promote"), "wait for more users (or a clearer difference), then "
            "judge fresh results")])
    path = Path(journey.loc.file)
    old, new = _rewrite(path, journey, step, ex.promoted_weights(split, winner))
    _write_checked(path, old, new, request.project)
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        f"a/{journey.loc.file}", f"b/{journey.loc.file}"))
    if request.as_json:
        print(json.dumps({"promoted": found.as_json(), "winner": winner,
                          "file": journey.loc.file, "diff": diff}, indent=2))
        return EXIT_OK
    sys.stdout.write(diff)
    plan = command("plan", request.project, *Given(request.project, request.state).state_args())
    print(f"✓ {target}: everyone now goes to {winner} (the other variants are kept with weight "
          f"0). Review and commit the change, then: {plan}")
    return EXIT_OK


def _find_split(project: m.Project, target: str) -> tuple[m.Journey, m.Step, m.Split]:
    journey_id, _, step_id = target.partition("/")
    journey = project.journey(journey_id)
    step = next((s for s in journey.steps if s.id == step_id), None) if journey else None
    if journey is None or step is None or not isinstance(step.action, m.Split):
        if not step_id:
            what = "not of the form JOURNEY/STEP"
        elif journey is None:
            what = f"no journey '{journey_id}' in the project"
        elif step is None:
            what = f"journey {journey_id} has no step '{step_id}'"
        else:
            what = f"step '{step_id}' of {journey_id} is not a split"
        raise _not_a_split(target, what, [f"{j.id}/{s.id}" for j, s, _ in ex.splits(project)])
    return journey, step, step.action


def _not_a_split(target: str, what: str, splits: list[str]) -> JourneyctlError:
    close = close_names(target, splits)
    if close:
        hint = f"did you mean {close[0]}?"
    else:
        hint = f"splits: {', '.join(splits)}" if splits else "the project has no split step"
    return JourneyctlError([diagnostic("JC936", f"{target}: {what}", option("--promote"),
                                       hint)])


def _rewrite(path: Path, journey: m.Journey, step: m.Step,
             weights: dict[str, int]) -> tuple[str, str]:
    """The file's text, and that text with the split's weights replaced (checked: it parses
    to the same journey with only those weights changed)."""
    doc = parse(decode(path.read_bytes(), journey.loc.file), journey.loc.file)
    index = next(i for i, s in enumerate(doc.data["steps"]) if s.get("id") == step.id)
    split_path = ("steps", index, "split")
    new = ex.rewrite_weights(doc, split_path, weights)
    if parse(new, journey.loc.file).data != ex.expected_data(doc.data, split_path, weights):
        raise AssertionError(f"editing the weights of {path} changed more than them")
    return doc.text, new


def _write_checked(path: Path, old: str, new: str, project: Path) -> None:
    """Replace the file (atomically), validate the project with it, and put the old text back
    when the project no longer validates."""
    target = path.resolve()  # a journey file that is a link: write where it points
    bom = _BOM if target.read_bytes().startswith(_BOM) else b""
    _replace(target, bom + new.encode("utf-8"))
    if project_errors(validate(project), "the promotion was undone") is not None:
        _replace(target, bom + old.encode("utf-8"))
        raise SystemExit(EXIT_USER)


def _replace(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
