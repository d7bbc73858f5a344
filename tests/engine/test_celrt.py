"""Run-time CEL: each expression gets a context with only the functions it calls; the
standard library and `count()` still answer as with the whole library loaded."""

from __future__ import annotations

from typing import Any

import pytest

from journeyctl.engine.celrt import Evaluator
from journeyctl.engine.interpreter import new_state

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
