"""Run-time CEL: each expression gets a context with only the functions it calls; the
standard library and `count()` still answer as with the whole library loaded."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from journeyctl.engine.celrt import EvalError, Evaluator
from journeyctl.engine.state import new_state

PROFILE = {"name": "Kim", "tier": "gold", "tags": ["b", "a", "b"], "total_spent": 600_000}


def evaluate(evaluator: Evaluator, source: str, history: dict[str, list[float]] | None = None,
             now: float = 1_000_000.0, **variables: Any) -> Any:
    state = new_state("u-1", PROFILE)
    if history:
        state.own("history").update(history)
    values = {"profile": state.profile, **variables}
    return evaluator.evaluate(source, state, now, lambda needs: {k: values[k] for k in needs})


@pytest.mark.parametrize(("source", "expected"), [
    ('profile.name.lowerAscii() == "kim"', True),  # a method (strings)
    ('profile.tier.upperAscii().charAt(0)', "G"),  # two methods in a chain
    ("math.greatest([1, 5, 3])", 5),  # a namespaced function (math)
    ('profile.tags.distinct().sort() == ["a", "b"]', True),  # lists
    ('"a,b".split(",").reverse()', ["b", "a"]),  # `reverse` is in two libraries: lists wins
    ('size(profile.tags)', 3),  # CEL's own functions need nothing registered
])
def test_standard_library_functions_resolve(source: str, expected: Any) -> None:
    assert evaluate(Evaluator(), source) == expected


def test_count_and_variables_stay_with_their_expression() -> None:
    evaluator = Evaluator()
    history = {"purchase": [10.0, 999_000.0, 999_500.0]}  # kept sorted by the engine
    source = 'has(profile.total_spent) && count("purchase", duration("1h")) >= 2'
    assert evaluate(evaluator, source, history) is True
    assert evaluate(evaluator, 'count("purchase", duration("1h"))', history) == 2
    assert evaluate(evaluator, "event.price >= 10000", event={"price": 12_000}) is True
    # the context is reused: a second evaluation sees its own values, not those left before
    assert evaluate(evaluator, "event.price >= 10000", event={"price": 9_000}) is False


LOOP = "event.items.map(i, i * 2).exists(p, p > 100)"  # map() copies: quadratic


def test_an_expression_too_costly_for_its_data_is_not_run() -> None:
    evaluator = Evaluator()
    assert evaluate(evaluator, LOOP, event={"items": [10, 60, 3]}) is True
    assert evaluate(evaluator, LOOP, event={"items": list(range(100))}) is True  # the limit
    with pytest.raises(EvalError) as failed:
        evaluate(evaluator, LOOP, event={"items": list(range(1_000))})
    assert failed.value.reason == "over_budget"
    message = str(failed.value)
    assert message.startswith("over budget: it may cost ")
    assert "1,000 entries in a list or map, more than the 100 validate assumes" in message
    assert message.endswith("the limit is 1,000,000")
    # beyond the limits, a cheap expression still runs: its bound is computed with the sizes
    assert evaluate(evaluator, "event.items.exists(p, p > 998)",
                    event={"items": list(range(1_000))}) is True


def test_an_error_is_reason_error() -> None:
    with pytest.raises(EvalError) as failed:
        evaluate(Evaluator(), "profile.missing > 1")
    assert failed.value.reason == "error"


class SteppingTimer:
    """A perf counter that advances `step` seconds at each reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_slow_evaluation_is_logged_once_a_minute_and_its_result_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    timer = SteppingTimer(1.0)  # every evaluation "takes" 1 s, over the 0.5 s safety net
    evaluator = Evaluator(timer=timer)
    with caplog.at_level(logging.WARNING, logger="journeyctl.cel"):
        assert evaluate(evaluator, LOOP, event={"items": [200]}) is True
        assert evaluate(evaluator, LOOP, event={"items": [1]}) is False  # within the minute
        timer.now += 60
        assert evaluate(evaluator, LOOP, event={"items": [200]}) is True
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "took 1.00 s, over the 0.5 s safety budget (1 such evaluation" in warnings[0]
    assert "(2 such evaluations since the last warning); its result was used" in warnings[1]
    assert warnings[1].endswith(LOOP)


def test_a_fast_evaluation_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="journeyctl.cel"):
        assert evaluate(Evaluator(timer=SteppingTimer(0.1)), LOOP, event={"items": [1]}) is False
    assert caplog.records == []
