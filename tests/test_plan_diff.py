"""The plan's changed fields with their old and new values, and plan files of format 1."""

from __future__ import annotations

from typing import Any

from journeyctl.fielddiff import LIMIT, field_changes, show_change, show_value
from journeyctl.plan import SCHEMA_VERSION, Plan, journey_diff, seal, unseal


def test_changed_leaves_with_their_values() -> None:
    old = {"id": "a", "send": {"channel": "email", "template": "cart_email"}, "wait": "6h",
           "branch": [{"when": "x > 1"}, {"when": "y"}]}
    new = {"id": "a", "send": {"channel": "email", "template": "cart_email_v2"}, "wait": "4h",
           "branch": [{"when": "x > 2"}, {"when": "y"}], "next": "exit"}
    assert field_changes(old, new) == [
        {"path": "branch[0].when", "old": "x > 1", "new": "x > 2"},
        {"path": "next", "new": "exit"},
        {"path": "send.template", "old": "cart_email", "new": "cart_email_v2"},
        {"path": "wait", "old": "6h", "new": "4h"},
    ]
    # lists of another length, and a step that changed kind, are compared whole
    assert field_changes({"caps": [1]}, {"caps": [1, 2]}) == [
        {"path": "caps", "old": [1], "new": [1, 2]}]
    assert field_changes({"wait": "1d"}, {"wait_for": {"event": "x"}}) == [
        {"path": "wait", "old": "1d"}, {"path": "wait_for", "new": {"event": "x"}}]
    assert field_changes({"a": 1}, {"a": 1}) == []


def test_values_shown_as_yaml_on_one_line() -> None:
    assert show_change({"path": "wait", "old": "6h", "new": "4h"}) == "wait: 6h → 4h"
    assert show_change({"path": "send", "old": {"channel": "email", "template": "a"},
                        "new": "x"}) == "send: {channel: email, template: a} → x"
    assert show_change({"path": "trigger.where", "new": "event.plan == 'pro'"}) == \
        "trigger.where: (none) → event.plan == 'pro'"
    assert show_change({"path": "next"}) == "next"  # format 1: no values recorded
    assert show_value("yes") == "'yes'" and show_value(True) == "true"  # told apart
    assert show_value("(광고) 안내") == "(광고) 안내"
    assert show_value("line one\nline two") == '"line one\\nline two"'
    assert show_value({"text": "a\nb"}) == "{text: 'a b'}"  # one line, always


def test_long_values_are_cut_around_the_first_difference() -> None:
    prefix = "event.total > 50000 && profile.country == 'KR' && "
    old, new = prefix + "profile.vip", prefix + "profile.tier == 'gold'"
    shown = show_change({"path": "trigger.where", "old": old, "new": new})
    left, right = shown.removeprefix("trigger.where: ").split(" → ")
    assert left.startswith("…") and right.startswith("…")
    assert left.endswith("profile.vip") and "profile.tier" in right
    assert len(left) <= LIMIT and len(right) <= LIMIT
    long = "x" * 200
    shown = show_change({"path": "a", "old": "short", "new": long})
    assert shown == f"a: short → {'x' * (LIMIT - 1)}…"


def test_journey_diff_lists_step_and_journey_fields() -> None:
    def doc(wait: str, within: str) -> dict[str, Any]:
        return {"journey": {"journey": "j", "goal": {"event": "buy", "within": within},
                            "steps": [{"id": "w", "wait": wait}, {"id": "s", "exit": True}]},
                "templates": {}}

    diff = journey_diff(doc("6h", "3d"), doc("4h", "2d"))
    assert diff["steps"]["changed"] == [
        {"step": "w", "fields": [{"path": "wait", "old": "6h", "new": "4h"}]}]
    assert diff["journey"] == [{"path": "goal.within", "old": "3d", "new": "2d"}]


def _format_1_plan() -> dict[str, Any]:
    """A plan as journeyctl wrote it before values were recorded."""
    return {
        "schema_version": 1, "project": "p", "created_at": "2025-01-01T00:00:00+00:00",
        "state": {"path": "s.db", "file": "/tmp/s.db", "lineage": "l", "serial": 1},
        "changes": [{
            "journey": "j", "action": "update", "from_version": 1, "to_version": 2,
            "hash": "sha256:x", "content": {"journey": {}, "templates": {}}, "inflight": [],
            "diff": {"steps": {"added": [], "removed": [], "reordered": False,
                               "changed": [{"step": "w", "fields": ["wait"]}]},
                     "journey": ["name"],
                     "templates": {"added": [], "removed": [], "changed": []}},
        }],
        "settings": {"action": "update", "from_version": 1, "to_version": 2, "hash": "h",
                     "changed": ["project.timezone"], "content": {}},
        "summary": {"create": 0, "update": 1, "delete": 0, "no-op": 0}, "has_changes": True,
    }


def test_a_plan_of_format_1_reads_as_format_2_without_values() -> None:
    plan = unseal(seal(_format_1_plan()))
    assert isinstance(plan, Plan) and plan.schema_version == SCHEMA_VERSION
    diff = plan.changes[0].diff
    assert diff is not None
    assert diff["steps"]["changed"] == [{"step": "w", "fields": [{"path": "wait"}]}]
    assert diff["journey"] == [{"path": "name"}]
    assert plan.settings.changed == ({"path": "project.timezone"},)
    # format 1 recorded no --state: the plan's file names the state
    assert plan.state.url == "sqlite:////tmp/s.db"


def test_plan_formats_that_are_refused() -> None:
    newer = {**_format_1_plan(), "schema_version": SCHEMA_VERSION + 1}
    assert unseal(seal(newer)) == (f"plan format {SCHEMA_VERSION + 1} is newer than this "
                                   f"journeyctl reads (1 to {SCHEMA_VERSION})")
    assert "is not one this journeyctl reads" in str(unseal(seal({**newer,
                                                                  "schema_version": [1]})))
    # format 2's fields are records: a format-2 plan with format 1's bare names is refused
    mixed = {**_format_1_plan(), "schema_version": SCHEMA_VERSION}
    assert "not a journeyctl plan" in str(unseal(seal(mixed)))
