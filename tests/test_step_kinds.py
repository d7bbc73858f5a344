"""The tables keyed by step kind name every kind (docs/architecture.md, "To add a step kind"):
mypy checks the `match` statements, not these."""

from __future__ import annotations

import typing

from journeyctl import build
from journeyctl import model as m
from journeyctl.sim import svg_graph


def test_every_step_kind_is_built_and_drawn() -> None:
    kinds = set(typing.get_args(m.StepKind))
    assert set(m.STEP_KINDS) == kinds
    assert set(build._ACTIONS) == kinds
    assert set(svg_graph.KIND_COLOURS) == kinds
