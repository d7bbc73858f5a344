"""The core of `journeyctl experiments`: the decision rule, the results of a split from a
report, the weights rewritten in the journey text, and `decide:` in the language."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl import experiments as ex
from journeyctl import model as m
from journeyctl.diagnostics import Loc
from journeyctl.project import validate
from journeyctl.scaffold import scaffold
from journeyctl.yamlload import parse

RULE = m.Decide(loc=Loc(""), min_per_variant=500, confidence=0.95)


def arm(name: str, entered: int, conversions: int, control: bool = False) -> ex.Arm:
    return ex.Arm(name, 50, entered, conversions, conversions / entered if entered else None,
                  None, None, control, entered >= RULE.min_per_variant)


def test_a_clear_winner_is_named() -> None:
    decision = ex.decide((arm("a", 1000, 100, True), arm("b", 1000, 160)), RULE)
    assert decision == ex.Decision("b", ())


def test_not_enough_users_names_each_short_variant() -> None:
    decision = ex.decide((arm("a", 1000, 100, True), arm("b", 312, 90)), RULE)
    assert decision.winner is None
    assert decision.reasons == ("variant b has 312 of the 500 users it needs",)


def test_a_difference_that_is_not_significant_is_no_winner() -> None:
    decision = ex.decide((arm("a", 1000, 100, True), arm("b", 1000, 112)), RULE)
    assert decision.winner is None
    (reason,) = decision.reasons
    assert reason.startswith("b against a: p = 0.")
    assert reason.endswith("not below 0.05")


def test_equal_rates_are_no_winner() -> None:
    decision = ex.decide((arm("a", 600, 0, True), arm("b", 600, 0)), RULE)
    assert decision.winner is None
    assert "not computable" in decision.reasons[0]


def test_the_control_can_win() -> None:
    decision = ex.decide((arm("control", 1000, 200, True), arm("coupon", 1000, 120)), RULE)
    assert decision.winner == "control"


def test_three_variants_the_best_must_beat_each_other_one() -> None:
    clear = (arm("a", 1000, 100, True), arm("b", 1000, 110), arm("c", 1000, 200))
    assert ex.decide(clear, RULE).winner == "c"
    close_second = (arm("a", 1000, 100, True), arm("b", 1000, 190), arm("c", 1000, 200))
    decision = ex.decide(close_second, RULE)
    assert decision.winner is None
    assert len(decision.reasons) == 1 and decision.reasons[0].startswith("c against b:")


def test_confidence_sets_the_threshold() -> None:
    arms = (arm("a", 1000, 100, True), arm("b", 1000, 130))  # p is about 0.035
    assert ex.decide(arms, RULE).winner == "b"
    strict = m.Decide(loc=Loc(""), min_per_variant=500, confidence=0.99)
    assert ex.decide(arms, strict).reasons[0].endswith("not below 0.01")


JOURNEY = """\
# keep this comment
journey: ab
trigger: {event: signup}
steps:
  - id: pick
    split:
      - {variant: a, weight: 50, next: done}   # old offer
      - variant: b
        weight:   50
  - id: done
    exit: {}
"""


def test_rewrite_changes_only_the_weight_values() -> None:
    doc = parse(JOURNEY, "ab.yaml")
    weights = {"a": 0, "b": 100}
    new = ex.rewrite_weights(doc, ("steps", 0, "split"), weights)
    assert new == JOURNEY.replace("weight: 50, next", "weight: 0, next").replace(
        "weight:   50", "weight:   100")
    assert parse(new, "ab.yaml").data == ex.expected_data(doc.data, ("steps", 0, "split"),
                                                          weights)


def test_rewrite_keeps_windows_line_ends_and_text_before() -> None:
    text = "# 한국어 주석\r\n" + JOURNEY.replace("\n", "\r\n")
    doc = parse(text, "ab.yaml")
    new = ex.rewrite_weights(doc, ("steps", 0, "split"), {"a": 100, "b": 0})
    assert new.count("\r\n") == text.count("\r\n")
    assert parse(new, "ab.yaml").data["steps"][0]["split"][1]["weight"] == 0
    assert "weight: 100, next: done}   # old offer\r\n" in new


def test_results_of_a_split_come_from_the_report(tmp_path: Path) -> None:
    project = _project(tmp_path, "decide: {min_per_variant: 10}")
    report = {"journeys": {"ab": {"steps": {"pick": {"variants": {
        "a": {"entered": 40, "conversions": 4, "conversion_rate": 0.1, "control": True},
        "b": {"entered": 9, "conversions": 6, "conversion_rate": 0.6667, "lift": 5.67,
              "p_value": 0.0001}}}}}}}
    (found,) = ex.experiments(project, report)
    assert (found.journey, found.step, found.declared) == ("ab", "pick", True)
    assert [(a.name, a.entered, a.sample_reached) for a in found.arms] == [
        ("a", 40, True), ("b", 9, False)]
    assert found.decision.reasons == ("variant b has 9 of the 10 users it needs",)
    (empty,) = ex.experiments(project, {"journeys": {}})
    assert [a.entered for a in empty.arms] == [0, 0]


def test_without_decide_the_default_rule_applies(tmp_path: Path) -> None:
    (found,) = ex.experiments(_project(tmp_path, ""), {"journeys": {}})
    assert not found.declared
    assert (found.rule.metric, found.rule.min_per_variant, found.rule.confidence) == (
        "conversion", 100, 0.95)


@pytest.mark.parametrize(("decide", "message"), [
    ("decide: {min_per_variant: 0}", "steps[0].decide.min_per_variant must be at least 1"),
    ("decide: {confidence: 1}", "steps[0].decide.confidence must be less than 1"),
    ("decide: {confidence: 0}", "steps[0].decide.confidence must be more than 0"),
    ("decide: {metric: revenue}", "steps[0].decide.metric: 'revenue' is not allowed"),
    ("decide: {min_per_variant: many}", "steps[0].decide.min_per_variant must be a whole"),
])
def test_decide_values_are_checked(tmp_path: Path, decide: str, message: str) -> None:
    loaded = validate(_root(tmp_path, decide))
    found = [d for d in loaded.diagnostics if d.code == "JC216"]
    assert len(found) == 1 and found[0].message.startswith(message), loaded.diagnostics
    assert found[0].loc.file.endswith("ab.yaml") and found[0].loc.line == 9


def test_decide_on_a_step_that_is_not_a_split_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, "")
    path = root / "journeys/ab.yaml"
    path.write_text(path.read_text().replace("    exit: {}", "    exit: {}\n    decide: {}"))
    loaded = validate(root)
    (found,) = [d for d in loaded.diagnostics if d.code == "JC216"]
    assert found.message == "`decide` only applies to a split step"
    assert (found.loc.line, found.loc.col) == (12, 5)


def test_a_weight_of_zero_is_valid(tmp_path: Path) -> None:
    root = _root(tmp_path, "")
    path = root / "journeys/ab.yaml"
    path.write_text(path.read_text().replace("weight: 50}", "weight: 100}").replace(
        "weight: 50, next", "weight: 0, next"))
    assert not [d for d in validate(root).diagnostics if d.is_error]


def _root(tmp_path: Path, decide: str) -> Path:
    root = tmp_path / "proj"
    scaffold(root, "proj")
    (root / "journeys/ab.yaml").write_text(f"""\
journey: ab
trigger: {{event: signup}}
goal: {{event: purchase, within: 14d}}
steps:
  - id: pick
    split:
      - {{variant: a, weight: 50, next: done}}
      - {{variant: b, weight: 50}}
    {decide}
  - id: done
    exit: {{}}
""")
    return root


def _project(tmp_path: Path, decide: str) -> m.Project:
    loaded = validate(_root(tmp_path, decide))
    assert loaded.project is not None and not [d for d in loaded.diagnostics if d.is_error]
    return loaded.project
