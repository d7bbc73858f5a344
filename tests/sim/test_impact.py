"""`plan --events`' comparison of two simulation reports (sim.impact), the sends by channel per
step it reads (the recorder), and the applied versions a simulation can run (Options)."""

from __future__ import annotations

from typing import Any

import pytest

from journeyctl.project import load_project
from journeyctl.sim.host import Options, Simulation
from journeyctl.sim.impact import Impact, Row, compare, markdown, text_lines
from journeyctl.sim.recorder import JourneyCounts
from journeyctl.sim.run import simulate
from tests.support import EXAMPLE


def journey(entered: int = 0, cost: float = 0.0, **steps: dict[str, Any]) -> dict[str, Any]:
    return {"entered": entered, "conversions": 0, "revenue": 0.0, "cost": cost,
            "steps": steps}


def step(reached: int, sent: dict[str, int] | None = None,
         suppressed: dict[str, int] | None = None) -> dict[str, Any]:
    return {"reached": reached, "sent_by_channel": sent or {}, "suppressed": suppressed or {}}


def report(**journeys: dict[str, Any]) -> dict[str, Any]:
    return {"journeys": journeys, "window": {"start": None, "until": "2024-05-01T00:00:00Z"}}


BEFORE = report(
    a=journey(10, 0.3, wait=step(10), mail=step(8, {"email": 8}, {"no_consent": 2}),
              gone=step(3, {"sms": 3})),
    b=journey(5, 1.0, only=step(5)))
AFTER = report(
    a=journey(10, 0.1 + 0.2, wait=step(10), mail=step(9, {"email": 7, "push": 2}),
              new=step(4)),
    b=journey(7, 1.0, only=step(7)))


def keys(rows: list[Row]) -> list[tuple[str, str | None, str, str | None, float, float]]:
    return [(r.journey, r.step, r.metric, r.key, r.before, r.after) for r in rows]


def test_only_numbers_that_move_of_the_journeys_asked_for() -> None:
    assert keys(compare(BEFORE, AFTER, ["a"])) == [
        # 0.3 against 0.1 + 0.2 (0.30000000000000004) does not move; `wait` does not either
        ("a", "mail", "reached", None, 8, 9),
        ("a", "mail", "sent", "email", 8, 7),
        ("a", "mail", "sent", "push", 0, 2),
        ("a", "mail", "suppressed", "no_consent", 2, 0),
        ("a", "new", "reached", None, 0, 4),
        # a step only the applied version has comes after the files' steps
        ("a", "gone", "reached", None, 3, 0),
        ("a", "gone", "sent", "sms", 3, 0),
    ]
    assert [r.delta for r in compare(BEFORE, AFTER, ["b"])] == [2, 2]


def test_nothing_applied_is_every_number_zero_and_a_journey_gone_drops_to_zero() -> None:
    rows = compare(None, AFTER, ["b"])
    assert keys(rows) == [("b", None, "entered", None, 0, 7), ("b", None, "cost", None, 0, 1.0),
                          ("b", "only", "reached", None, 0, 7)]
    gone = compare(BEFORE, report(), ["b"])
    assert [(r.before, r.after, r.delta) for r in gone] == [(5, 0, -5), (1.0, 0, -1.0),
                                                           (5, 0, -5)]


def impact(rows: list[Row], baseline: int | None = 3) -> Impact:
    return Impact(("data/events.jsonl",), None, {"until": "2024-05-01T00:00:00Z"}, baseline,
                  tuple(rows))


def test_markdown_is_a_table_of_the_rows_and_text_lines_up() -> None:
    rows = compare(BEFORE, AFTER, ["a", "b"])
    comment = markdown(impact(rows))
    assert "On `data/events.jsonl`, until 2024-05-01T00:00:00Z: the applied versions " \
           "(serial 3) → this branch's files" in comment
    table = [line for line in comment.splitlines() if line.startswith("| `")]
    assert table[0] == "| `a` | `mail` | reached | 8 | 9 | +1 |"
    assert table[2] == "| `a` | `mail` | sent (push) | 0 | 2 | +2 |"
    assert "| `b` |  | entered | 5 | 7 | +2 |" in table
    assert len(table) == len(rows)
    text = text_lines(impact(rows, None))
    assert text[0] == ("Simulated on data/events.jsonl, until 2024-05-01T00:00:00Z: nothing "
                       "applied (every number 0) → the files.")
    assert text[1].split() == ["journey", "step", "number", "before", "after", "change"]
    assert len({len(line) for line in text[1:]}) == 1  # the numbers end in one column
    assert text[3].split() == ["a", "mail", "sent", "(email)", "8", "7", "-1"]


def test_no_moving_number_says_so() -> None:
    assert "No simulated number of a changed journey changes." in markdown(impact([]))
    assert text_lines(impact([]))[-1] == "No simulated number of a changed journey changes."


def test_money_shows_its_decimals_and_thousands() -> None:
    row = Row("a", None, "revenue", None, 1234.5, 1000.0075)
    assert markdown(impact([row])).splitlines()[-1] == \
        "| `a` |  | revenue | 1,234.5 | 1,000.0075 | -234.4925 |"


def test_sends_by_channel_add_up_to_the_sends_and_merge() -> None:
    project = load_project(EXAMPLE).project
    assert project is not None
    result = simulate(project, [EXAMPLE / "data/events.jsonl"], EXAMPLE / "data/profiles.jsonl",
                      keep_messages=False)
    steps = [s for j in result.report["journeys"].values() for s in j["steps"].values()]
    assert all(sum(s["sent_by_channel"].values()) == s["sent"] for s in steps)
    assert {c for s in steps for c in s["sent_by_channel"]} >= {"email", "push", "sms"}
    one, other = JourneyCounts(), JourneyCounts()
    one.steps["x"].sent_by_channel.update({"email": 2})
    other.steps["x"].sent_by_channel.update({"email": 1, "sms": 4})
    one.merge(other)
    assert one.steps["x"].sent_by_channel == {"email": 3, "sms": 4}


@pytest.mark.parametrize("versions", [None, {"cart-abandonment": 4}])
def test_a_simulation_runs_the_versions_it_is_given(versions: dict[str, int] | None) -> None:
    project = load_project(EXAMPLE).project
    assert project is not None
    old = project.journey("onboarding")
    assert old is not None
    simulation = Simulation(project, [], Options(versions=versions, older=((old, 2),)))
    compiled = simulation.engine.compiled
    assert compiled.by_id["cart-abandonment"].version == (4 if versions else 1)
    assert ("onboarding", 2) in compiled.versions
