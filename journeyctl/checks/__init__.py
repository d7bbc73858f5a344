"""Semantic checks over a loaded project: each returns located diagnostics, none raises."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from journeyctl.checks import channels, expressions, graph, kakao, policy, snippets, templates
from journeyctl.checks.context import CheckContext
from journeyctl.diagnostics import Collector, Diagnostic
from journeyctl.model import Project
from journeyctl.yamlload import Doc

CHECKS: tuple[Callable[[CheckContext], None], ...] = (
    graph.check,
    channels.check,
    expressions.check,
    snippets.check,
    templates.check,
    kakao.check,
    policy.check,
)


def run_checks(project: Project, docs: Mapping[str, Doc]) -> list[Diagnostic]:
    out = Collector()
    ctx = CheckContext(project, docs, out)
    for check in CHECKS:
        check(ctx)
    return out.sorted()
