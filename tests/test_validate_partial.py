"""`validate` reports every error at once: a part of a file with errors (a step, the trigger, a
template field) is reported and left out, and the rest of the same file is still checked — with
no follow-on errors about what the broken part hides.

Each case starts from a freshly scaffolded project, writes files, and asserts the exact list of
diagnostics (errors and warnings) as (code, file, line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_corpus import Edit, J, T, apply, replace

from journeyctl import build
from journeyctl.diagnostics import Collector
from journeyctl.model import step_part
from journeyctl.project import load_project, validate
from journeyctl.state.applied import AppliedError, _journey
from journeyctl.yamlload import Doc
from tests.support import EXAMPLE, run_cli

SENDS = """  - id: send_welcome
    send: {channel: email, template: welcome_email}
"""
NUDGE = """  - id: send_nudge
    send: {channel: email, template: nudge_email}
"""

# The brief's example: a step with a bad duration, and an unknown property in `where:`.
BAD_DURATION_AND_PROPERTY = f"""journey: welcome
trigger:
  event: signup
  where: event.plann == "pro"
steps:
{SENDS}    next: wait_1h
  - id: wait_1h
    wait: 1hour
{NUDGE}"""


@dataclass(frozen=True)
class Case:
    name: str
    edits: tuple[Edit, ...]
    expected: list[tuple[str, str, int]]  # every diagnostic: (code, file, line), sorted


def journey(text: str) -> Edit:
    return Edit(J, None, text)


def case(name: str, edits: tuple[Edit, ...], *expected: tuple[str, str, int]) -> Case:
    return Case(name, edits, sorted(expected))


CASES = [
    case("bad_duration_and_unknown_where_property", (journey(BAD_DURATION_AND_PROPERTY),),
         ("JC403", J, 4), ("JC301", J, 10)),
    # A step that fails to build (not the schema: `0s` passes it) hides nothing else either.
    case("zero_duration_and_unknown_goal_property", (journey(f"""journey: welcome
trigger: {{event: signup}}
goal: {{event: purchase, within: 14d, value: event.amout}}
steps:
{SENDS}  - id: nap
    wait: 0s
{NUDGE}"""),), ("JC403", J, 3), ("JC301", J, 8)),
    # `next:`, a branch and `migrate` naming a broken step: it exists, so no "unknown step";
    # the step graph lacks it, so no "unreachable" either (send_nudge follows only `later`).
    case("references_to_a_broken_step", (journey(f"""journey: welcome
trigger: {{event: signup}}
migrate: {{old_wait: later}}
steps:
{SENDS}    next: choose
  - id: choose
    branch:
      - {{if: profile.nmae == "x", next: later}}
      - {{else: later}}
  - id: later
    wait: {{until: "25:00"}}
    next: send_nudge
  - id: gone
    exit: {{}}
{NUDGE}"""),), ("JC404", J, 10), ("JC302", J, 13)),
    # A step whose id is unusable may be the target of any reference.
    case("step_without_id", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}    next: ghost
  - wait: 1h
{NUDGE}"""),), ("JC102", J, 7)),
    case("step_with_a_bad_id", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}    next: later
  - id: _later
    wait: 1h
{NUDGE}"""),), ("JC104", J, 7)),
    # An id of another type names that step by its text: other references are still judged.
    case("step_with_an_id_of_the_wrong_type", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}    next: zzz
  - id: 7
    wait: 1h
{NUDGE}    next: "7"
"""),), ("JC104", J, 7), ("JC203", J, 6)),
    # A broken trigger hides what `entry` holds (and `event` at entry), not the profile.
    case("broken_trigger_and_bad_step", (journey(f"""journey: welcome
trigger: {{event: signup, whre: event.plan == "x"}}
audience: entry.plan == "pro" && event.plan == "pro" && profile.nmae != ""
steps:
{SENDS}  - id: nap
    wait: 1hour
{NUDGE}"""),), ("JC101", J, 2), ("JC404", J, 3), ("JC301", J, 8)),
    case("broken_trigger_in_templates", (journey(f"""journey: welcome
trigger: {{event: signup, whre: event.plan == "x"}}
steps:
{SENDS}{NUDGE}"""), replace(T, "your account", "{{ entry.plan }} {{ event.plan }} your account"),
          replace(T, "profile.name", "profile.nmae")),
         ("JC101", J, 2), ("JC604", T, 5)),
    case("bad_cron_and_unknown_function", (journey(f"""journey: welcome
trigger: {{schedule: "61 * * * *"}}
audience: sizee(profile.name) > 1
steps:
{SENDS}{NUDGE}"""),), ("JC304", J, 2), ("JC406", J, 3)),
    # A broken wait_for hides which events `event` may be mid-journey (`amount` is purchase's).
    case("broken_wait_for_hides_mid_journey_events", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}  - id: wait_buy
    wait_for: {{event: purchase, timeout: 3days}}
  - id: check
    branch:
      - {{if: event.amount > 100 && profile.agee > 1, next: send_nudge}}
      - {{else: exit}}
{NUDGE}"""),), ("JC301", J, 7), ("JC404", J, 10)),
    # Without its waits, the journey's sends would all seem to go at once: no JC820 warning.
    case("no_worst_case_without_the_waits", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}  - id: pause_1
    wait: 8 days
{NUDGE}  - id: pause_2
    wait: 8 days
  - id: send_again
    send: {{channel: email, template: welcome_email}}
  - id: pause_3
    wait: 8 days
  - id: send_last
    send: {{channel: email, template: nudge_email}}
"""),), ("JC301", J, 7), ("JC301", J, 11), ("JC301", J, 15)),
    # A template used only by a broken step is not "unused".
    case("template_used_only_by_a_broken_step", (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}  - id: send_nudge
    send: {{channel: email, template: nudge_email, category: loud}}
"""),), ("JC104", J, 7)),
    case("broken_goal_next_to_bad_exit_on", (journey(f"""journey: welcome
trigger: {{event: signup}}
goal: {{event: purchase, within: 14}}
exit_on:
  - {{event: unsubscribe, where: event.reason == "x"}}
steps:
{SENDS}{NUDGE}"""),), ("JC301", J, 3), ("JC403", J, 5)),
    # Templates: a broken field next to an unknown variable; the broken field is not "missing".
    case("template_broken_field_and_unknown_variable",
         (replace(T, 'subject: "Anything we can help with?"', "subject: 42"),
          replace(T, "profile.name", "profile.nmae")),
         ("JC103", T, 3), ("JC604", T, 5)),
    # A broken channel: nothing about which channel it is for, the Liquid is still checked.
    case("template_broken_channel", (replace(T, "channel: email", "channel: [email]"),
                                     replace(T, "profile.name", "profile.nmae")),
         ("JC103", T, 2), ("JC604", T, 5)),
    case("template_without_channel", (replace(T, "channel: email\n", ""),
                                      replace(T, "profile.name", "profile.nmae")),
         ("JC102", T, 2), ("JC604", T, 4)),
    # A file whose top level is unusable is still left out whole (its id is unknown).
    case("journey_without_id", (replace(J, "journey: welcome\n", "audience: sizee(1)\n"),),
         ("JC102", J, 2)),
]


def _found(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    monkeypatch.chdir(root)
    return sorted((d.code, d.loc.file, d.loc.line) for d in validate(Path(".")).diagnostics)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_error_of_a_partly_broken_file(case: Case, new_project: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    apply(new_project, case.edits)
    assert _found(new_project, monkeypatch) == case.expected


def test_example_project_is_still_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _found(EXAMPLE, monkeypatch) == []


def test_broken_parts_are_named_and_left_out(new_project: Path) -> None:
    apply(new_project, (journey(BAD_DURATION_AND_PROPERTY),
                        replace(T, 'subject: "Anything we can help with?"', "subject: 42")))
    project = load_project(new_project).project
    assert project is not None and project.broken == frozenset()
    welcome = project.journey("welcome")
    assert welcome is not None
    assert [s.id for s in welcome.steps] == ["send_welcome", "send_nudge"]
    assert welcome.broken == {"step:wait_1h"}
    assert not welcome.loaded_step("wait_1h") and welcome.loaded_step("nope")
    assert not welcome.steps_complete
    # The other steps keep the locations of where they are written.
    assert welcome.step("send_nudge").loc.line == 11
    nudge = project.templates["nudge_email"]
    assert nudge.broken == {"subject"} and "subject" not in nudge.fields


def test_a_journey_with_broken_parts_is_never_run() -> None:
    """The daemon's loader treats a stored journey that no longer builds whole as a bug."""
    content = {"journey": {"journey": "j", "trigger": {"schedule": "61 * * * *"},
                           "steps": [{"id": "a", "wait": "1h"}]}}
    with pytest.raises(AppliedError, match="does not build"):
        _journey("j", 1, content, Collector())
    built = build.build_journey(Doc("j.yaml", "", content["journey"], {}, {}), Collector())
    assert built.broken == {"trigger"} and [s.id for s in built.steps] == ["a"]


@pytest.mark.e2e
def test_cli_reports_both_errors(new_project: Path) -> None:
    """End to end: a schema error in a step no longer hides the semantic error beside it."""
    apply(new_project, (journey(BAD_DURATION_AND_PROPERTY),))
    text = run_cli("validate", ".", cwd=new_project)
    assert text.returncode == 1, text.stdout + text.stderr
    assert "journeys/welcome.yaml:4:10: error[JC403]: event 'signup' has no property 'plann'" \
        in text.stdout
    assert "journeys/welcome.yaml:10:11: error[JC301]" in text.stdout
    assert "error[JC203]" not in text.stdout and "JC204" not in text.stdout
    assert "✗ invalid: 2 errors, 0 warnings" in text.stdout

    as_json = run_cli("validate", ".", "--format", "json", cwd=new_project)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert not report["valid"] and report["errors"] == 2
    assert [(d["code"], d["file"], d["line"]) for d in report["diagnostics"]] == [
        ("JC403", J, 4), ("JC301", J, 10)]


@pytest.mark.e2e
def test_cli_reports_a_reference_beside_a_step_whose_id_is_a_number(new_project: Path) -> None:
    apply(new_project, (journey(f"""journey: welcome
trigger: {{event: signup}}
steps:
{SENDS}    next: zzz
  - id: 7
    wait: 1h
{NUDGE}"""),))
    result = run_cli("validate", ".", cwd=new_project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "journeys/welcome.yaml:7:9: error[JC104]" in result.stdout
    assert "journeys/welcome.yaml:6:11: error[JC203]: next of step 'send_welcome' names " \
        "unknown step 'zzz'" in result.stdout


def test_step_part_names_a_step_by_the_text_of_its_id() -> None:
    assert [step_part(i) for i in ("a", 7, 1.5, True, None, [1])] == [
        "step:a", "step:7", "step:1.5", "step:true", "step:*", "step:*"]
