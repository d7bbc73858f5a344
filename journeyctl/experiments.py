"""Experiments that end: each split's results from a report, the rule that names a winner, and
the edit of a journey file that sends everyone to it (docs/language.md, "Deciding a split").

Pure functions over a report dict (`simulate --json`, or the daemon's live report: the same
schema) and the project model; reading and writing files is the command's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from journeyctl import model as m
from journeyctl.diagnostics import Loc
from journeyctl.sim.recorder import compare
from journeyctl.yamlload import Doc, DocPath

DEFAULT_RULE = m.Decide(loc=Loc(""))  # a split without `decide:` is judged by these


@dataclass(frozen=True)
class Arm:
    """One variant of a split, with its results."""

    name: str
    weight: int
    entered: int
    conversions: int
    rate: float | None
    lift: float | None  # over the control (as the report gives it)
    p_value: float | None  # against the control
    control: bool
    sample_reached: bool


@dataclass(frozen=True)
class Decision:
    winner: str | None
    reasons: tuple[str, ...]  # why there is no winner (empty when there is one)


@dataclass(frozen=True)
class Experiment:
    journey: str
    step: str
    rule: m.Decide
    declared: bool  # `decide:` is written (else DEFAULT_RULE)
    arms: tuple[Arm, ...]
    decision: Decision
    promoted: str | None  # the variant that already has weight 100

    def as_json(self) -> dict[str, Any]:
        rule = {"metric": self.rule.metric, "min_per_variant": self.rule.min_per_variant,
                "confidence": self.rule.confidence, "declared": self.declared}
        return {"journey": self.journey, "step": self.step, "rule": rule,
                "variants": [_arm_json(a) for a in self.arms],
                "winner": self.decision.winner, "reasons": list(self.decision.reasons),
                "promoted": self.promoted}


def _arm_json(arm: Arm) -> dict[str, Any]:
    return {"variant": arm.name, "weight": arm.weight, "entered": arm.entered,
            "conversions": arm.conversions, "conversion_rate": arm.rate, "lift": arm.lift,
            "p_value": arm.p_value, "control": arm.control, "sample_reached": arm.sample_reached}


def splits(project: m.Project) -> list[tuple[m.Journey, m.Step, m.Split]]:
    """Every split of the project, in journey id then step order."""
    return [(j, s, s.action) for j in sorted(project.journeys, key=lambda j: j.id)
            for s in j.steps if isinstance(s.action, m.Split)]


def experiments(project: m.Project, report: Mapping[str, Any]) -> list[Experiment]:
    """Each split of the project with its results in `report` (zeros where it has none)."""
    return [experiment(j, s, split, report) for j, s, split in splits(project)]


def experiment(journey: m.Journey, step: m.Step, split: m.Split,
               report: Mapping[str, Any]) -> Experiment:
    rule = split.decide or DEFAULT_RULE
    rows = _variant_rows(report, journey.id, step.id)
    arms = tuple(_arm(v, rows.get(v.name, {}), rule) for v in split.variants)
    promoted = next((v.name for v in split.variants if v.weight == 100), None)
    return Experiment(journey.id, step.id, rule, split.decide is not None, arms,
                      decide(arms, rule), promoted)


def _variant_rows(report: Mapping[str, Any], journey: str, step: str) -> Mapping[str, Any]:
    steps = report.get("journeys", {}).get(journey, {}).get("steps", {})
    return steps.get(step, {}).get("variants", {}) or {}


def _arm(variant: m.Variant, row: Mapping[str, Any], rule: m.Decide) -> Arm:
    entered, conversions = int(row.get("entered", 0)), int(row.get("conversions", 0))
    return Arm(variant.name, variant.weight, entered, conversions,
               row.get("conversion_rate"), row.get("lift"), row.get("p_value"),
               bool(row.get("control", False)), entered >= rule.min_per_variant)


def decide(arms: tuple[Arm, ...], rule: m.Decide) -> Decision:
    """The decision rule: every variant has at least `min_per_variant` users; the winner is
    the variant with the highest conversion rate, and it beats every other variant in a
    two-sided two-proportion z-test with p below 1 - `confidence`."""
    short = [f"variant {a.name} has {a.entered} of the {rule.min_per_variant} users it needs"
             for a in arms if a.entered < rule.min_per_variant]
    if short:
        return Decision(None, tuple(short))
    best = max(arms, key=lambda a: a.conversions / a.entered)
    alpha = round(1 - rule.confidence, 10)
    reasons = []
    for other in arms:
        if other is best:
            continue
        p_value = compare(other.entered, other.conversions, best.entered,
                          best.conversions)["p_value"]
        if p_value is None or p_value >= alpha:
            shown = "not computable (no difference)" if p_value is None else f"{p_value:.3g}"
            reasons.append(f"{best.name} against {other.name}: p = {shown}, "
                           f"not below {alpha:.3g}")
    return Decision(None, tuple(reasons)) if reasons else Decision(best.name, ())


# --- promote: the journey file's text, edited at the weights ------------------------------

_BREAK = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")  # what libyaml counts as a line break


def promoted_weights(split: m.Split, winner: str) -> dict[str, int]:
    return {v.name: 100 if v.name == winner else 0 for v in split.variants}


def rewrite_weights(doc: Doc, split_path: DocPath, weights: Mapping[str, int]) -> str:
    """`doc.text` with the `weight:` values of the split at `split_path` (a list of variants)
    replaced; every other character stays as it was."""
    starts = [0] + [match.end() for match in _BREAK.finditer(doc.text)]
    edits = []
    for i, variant in enumerate(_value(doc.data, split_path)):
        mark = doc.marks[(*split_path, i, "weight")]
        begin = starts[mark.line] + mark.col
        end = starts[mark.end_line] + mark.end_col
        edits.append((begin, end, str(weights[variant["variant"]])))
    text = doc.text
    for begin, end, value in sorted(edits, reverse=True):  # from the end: offsets stay valid
        text = text[:begin] + value + text[end:]
    return text


def _value(data: Any, path: DocPath) -> Any:
    for part in path:
        data = data[part]
    return data


def expected_data(data: Any, split_path: DocPath, weights: Mapping[str, int]) -> Any:
    """What the rewritten file must parse to: `data` with only those weights changed."""
    if not split_path:
        return [{**v, "weight": weights[v["variant"]]} for v in data]
    head, *rest = split_path
    if isinstance(data, list):
        assert isinstance(head, int)
        return [expected_data(item, tuple(rest), weights) if i == head else item
                for i, item in enumerate(data)]
    return {k: expected_data(v, tuple(rest), weights) if k == head else v
            for k, v in data.items()}
