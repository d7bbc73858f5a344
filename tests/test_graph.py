"""Diagrams: every step a node, every edge labelled, text escaped for each format."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl.graph import dot, mermaid
from journeyctl.project import load_project
from tests.support import EXAMPLE


@pytest.fixture(scope="module")
def journeys() -> dict:
    project = load_project(EXAMPLE).project
    assert project is not None
    return {j.id: j for j in project.journeys}


def test_mermaid_cart(journeys: dict) -> None:
    text = mermaid(journeys["cart-abandonment"])
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    __start(["on add_to_cart where event.price #62;= 10000"])' in lines
    assert '    s0["wait_6h<br/>wait 6h"]' in lines
    assert '    s3["email_reminder<br/>send email: cart_email → sms"]' in lines
    assert '    s5{{"coupon_test<br/>A/B split"}}' in lines
    assert '    s5 -->|"coupon 50%"| s6' in lines
    assert '    s5 -->|"control 50%"| __end' in lines
    assert "    s6 --> __end" in lines


def test_wait_for_and_loop_edges(journeys: dict) -> None:
    text = mermaid(journeys["post-purchase"])
    assert '-->|"review_submitted"|' in text
    assert '-->|"timeout 3d"|' in text
    assert '-->|"repeat ×1"|' in text and '-->|"done"|' in text


def test_dot_edges_and_escaped_quotes(journeys: dict) -> None:
    text = dot(journeys["saas-trial"])
    assert text.startswith('digraph "saas-trial" {')
    assert '"key_feature" -> "until_day_7" [label="feature_used"];' in text
    assert '"key_feature" -> "tutorial_push" [label="timeout 3d"];' in text
    assert text.rstrip().endswith("}")
    branch = dot(journeys["dormant-reactivation"])
    assert '"response" -> "hot_lead" [label="if event.offer == \\"coupon\\" ||' in branch


def test_branch_labels_are_shortened(journeys: dict) -> None:
    text = mermaid(journeys["dormant-reactivation"])
    label = next(line for line in text.splitlines() if '-->|"if event.offer' in line)
    assert "…" in label and len(label) < 120


def test_every_example_renders_without_dangling_nodes(journeys: dict, tmp_path: Path) -> None:
    for journey in journeys.values():
        text = mermaid(journey)
        declared = {line.split("[")[0].split("{")[0].split("(")[0].strip()
                    for line in text.splitlines()[1:] if "-->" not in line}
        for line in text.splitlines():
            if "-->" in line:
                source, target = line.split()[0], line.split()[-1]
                assert source in declared and target in declared, (journey.id, line)
