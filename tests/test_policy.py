"""The worst-case promotional-messages check (JC820), on small journeys built in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl.project import validate


def journey(steps: str) -> str:
    return f"journey: welcome\ntrigger: {{event: signup}}\nsteps:\n{steps}"


SEND = "    send: {channel: email, template: nudge_email}\n"


def warnings_for(root: Path, steps: str, cap: str) -> list[str]:
    (root / "journeys/welcome.yaml").write_text(journey(steps), encoding="utf-8")
    settings = (root / "journeyctl.yaml").read_text(encoding="utf-8")
    (root / "journeyctl.yaml").write_text(settings.replace("{channel: any, max: 3, per: 7d}", cap),
                                          encoding="utf-8")
    found = validate(root).diagnostics
    assert not [d for d in found if d.is_error and d.code != "JC820"], found
    return [d.message for d in found if d.code == "JC820"]


@pytest.mark.parametrize(("steps", "cap", "expected"), [
    # two sends 1 day apart: a 1-day cap window (t - 1d, t] holds only one of them
    (f"  - id: a\n{SEND}  - id: w\n    wait: 1d\n  - id: b\n{SEND}",
     "{channel: any, max: 1, per: 1d}", None),
    # ... but 23h apart they share a window
    (f"  - id: a\n{SEND}  - id: w\n    wait: 23h\n  - id: b\n{SEND}",
     "{channel: any, max: 1, per: 1d}", "can send 2 promotional messages within 1d"),
    # a loop repeats its body `times` times: 1 + 2 sends with no wait long enough between
    (f"  - id: a\n{SEND}  - id: w\n    wait: 1h\n  - id: again\n    loop: {{to: a, times: 2}}\n",
     "{channel: any, max: 2, per: 7d}", "can send 3 promotional messages within 7d"),
    # a wait_for may end at once (the event arrives): the earliest time counts
    (f"  - id: a\n{SEND}  - id: w\n    wait_for: {{event: purchase, timeout: 3d}}\n"
     f"  - id: b\n{SEND}", "{channel: any, max: 1, per: 1d}", "can send 2"),
    # caps on another channel do not count email sends
    (f"  - id: a\n{SEND}  - id: b\n{SEND}", "{channel: email2, max: 1, per: 1d}", None),
])
def test_worst_case(new_project: Path, steps: str, cap: str, expected: str | None) -> None:
    if "email2" in cap:
        channels = (new_project / "channels.yaml").read_text(encoding="utf-8")
        block = channels.split("channels:\n", 1)[1]
        (new_project / "channels.yaml").write_text(
            channels + block.replace("  email:", "  email2:", 1), encoding="utf-8")
    found = warnings_for(new_project, steps, cap)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


def test_transactional_sends_do_not_count(new_project: Path) -> None:
    steps = "".join(f"  - id: s{i}\n    send: {{channel: email, template: nudge_email, "
                    "category: transactional}\n" for i in range(5))
    assert warnings_for(new_project, steps, "{channel: any, max: 1, per: 1d}") == []
