"""The global control group end to end (issue 14, part 3): `holdout:` in journeyctl.yaml is
validated with located errors; `simulate` on bench/gen_events.py's data keeps the configured
share of users in control, sends them no promotional message, and reports the lift."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support import run_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
SETTING = 'holdout: {percent: 5, salt: "2026"}\n'


def in_control(user_id: str, percent: float = 5, salt: str = "2026") -> bool:
    """The documented draw (docs/language.md), computed here on its own."""
    digest = hashlib.sha256(f"holdout#{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 < percent * 100


def example(folder: Path, settings: str = "") -> Path:
    root = folder / "shop"
    shutil.copytree(REPO / "journeys", root, ignore=shutil.ignore_patterns(".journeyctl"))
    with (root / "journeyctl.yaml").open("a", encoding="utf-8") as file:
        file.write(settings)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """20k users: the control share is tight enough for ±0.5 points, and it runs in seconds."""
    out = tmp_path_factory.mktemp("data")
    subprocess.run([sys.executable, REPO / "bench/gen_events.py", "--events", "100000",
                    "--users", "20000", "--seed", "3", "--out", out], check=True,
                   capture_output=True, timeout=120)
    return out / "events.jsonl", out / "profiles.jsonl"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, data: tuple[Path, Path]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("run")
    root = example(folder, SETTING)
    events, profiles = data
    paths = {"json": folder / "report.json", "messages": folder / "messages.jsonl",
             "html": folder / "report.html", "text": folder / "report.txt"}
    done = run_cli("simulate", root, "--events", events, "--profiles", profiles, "--json",
                   "--messages", paths["messages"], "--report", paths["html"])
    assert done.returncode == 0, done.stderr
    paths["json"].write_text(done.stdout, encoding="utf-8")
    text = run_cli("simulate", root, "--events", events, "--profiles", profiles)
    assert text.returncode == 0, text.stderr
    paths["text"].write_text(text.stdout, encoding="utf-8")
    return paths


def test_the_control_share_is_the_configured_percent(run: dict[str, Path],
                                                     data: tuple[Path, Path]) -> None:
    block = json.loads(run["json"].read_text(encoding="utf-8"))["holdout"]
    control, treated = block["control"]["users"], block["treated"]["users"]
    assert control > 0 and treated > 0
    assert abs(100 * control / (control + treated) - 5) <= 0.5, (control, treated)
    lines = data[0].read_text(encoding="utf-8").splitlines()
    ids = {json.loads(line)["user_id"] for line in lines}
    assert abs(100 * sum(map(in_control, ids)) / len(ids) - 5) <= 0.5


def test_no_promotional_message_reaches_a_control_user(run: dict[str, Path]) -> None:
    counts: Counter[tuple[bool, str]] = Counter()
    with run["messages"].open(encoding="utf-8") as file:
        for line in file:
            message = json.loads(line)
            counts[(in_control(message["user_id"]), message["category"])] += 1
    assert counts[(True, "promotional")] == 0, counts
    assert counts[(False, "promotional")] > 0 and counts[(True, "transactional")] > 0, counts
    report = json.loads(run["json"].read_text(encoding="utf-8"))
    held_out = sum(step["suppressed"].get("holdout", 0) for journey in report["journeys"].values()
                   for step in journey["steps"].values())
    assert held_out > 0


def test_the_lift_and_its_interval_are_reported(run: dict[str, Path]) -> None:
    report = json.loads(run["json"].read_text(encoding="utf-8"))
    block = report["holdout"]
    assert (block["percent"], block["salt"]) == (5, "2026")
    for scope in (block, *block["journeys"].values()):
        assert set(scope) >= {"control", "treated", "lift"}
    assert set(block["journeys"]) == set(report["journeys"])
    for metric in ("conversions", "revenue"):
        lift = block["lift"][metric]
        low, high = lift["per_user_ci95"]
        assert low < lift["per_user"] < high
        low, high = lift["relative_ci95"]
        assert low < lift["relative"] < high
    treated = block["treated"]
    assert treated["conversions_per_user"] == round(treated["conversions"] / treated["users"], 4)
    assert sum(j["conversions"] for j in report["journeys"].values()) == (
        block["control"]["conversions"] + treated["conversions"])


def test_the_text_and_html_reports_show_the_control_group(run: dict[str, Path]) -> None:
    text = run["text"].read_text(encoding="utf-8")
    assert "global control group: 5% of users (salt '2026')" in text
    assert "conv. lift (95% CI)" in text and "cart-abandonment" in text
    html = run["html"].read_text(encoding="utf-8")
    assert "<h2>Global control group</h2>" in html and "revenue lift (95% CI)" in html


def test_a_project_without_a_holdout_reports_none(tmp_path: Path, data: tuple[Path, Path],
                                                  cli) -> None:
    events, profiles = data
    small = tmp_path / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    small.write_text("".join(lines[:3000]), encoding="utf-8")
    done = cli("simulate", example(tmp_path), "--events", small, "--profiles", profiles, "--json")
    assert done.returncode == 0, done.stderr
    assert "holdout" not in json.loads(done.stdout)
    assert not any(line for line in done.stdout.splitlines() if '"holdout"' in line)


@pytest.mark.parametrize(("setting", "column", "message", "hint"), [
    ("{percent: 0, salt: s}", 20, "JC104]: holdout.percent must be more than 0",
     "write a number of percent between 0 and 100, both excluded"),
    ("{percent: 100, salt: s}", 20, "JC104]: holdout.percent must be less than 100",
     "write a number of percent between 0 and 100, both excluded"),
    ("{percent: five, salt: s}", 20, "JC103]: holdout.percent must be a number",
     "write a number of percent"),
    ("{percent: 5, salt: ''}", 29, "JC104]: holdout.salt must not be empty",
     "write any non-empty text"),
    ("{percent: 5, salt: 2026}", 29, "JC103]: holdout.salt must be text, not 2026",
     'write any non-empty text, e.g. "2026" (quote numbers)'),
])
def test_bad_settings_are_located_errors(tmp_path: Path, cli, setting: str, column: int,
                                         message: str, hint: str) -> None:
    root = example(tmp_path)
    line = len((root / "journeyctl.yaml").read_text(encoding="utf-8").splitlines()) + 1
    with (root / "journeyctl.yaml").open("a", encoding="utf-8") as file:
        file.write(f"holdout: {setting}\n")
    done = cli("validate", root)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"journeyctl.yaml:{line}:{column}: error[{message}" in out, out
    assert f"hint: {hint}" in out, out
    assert out.count("error[") == 1, out  # the rest of the project loads as before


def test_two_workers_add_up_to_the_same_holdout_block(run: dict[str, Path],
                                                      data: tuple[Path, Path]) -> None:
    """The counts are sums: the shards' recorders merge into the one-process numbers."""
    events, profiles = data
    done = run_cli("simulate", run["json"].parent / "shop", "--events", events, "--profiles",
                   profiles, "--json", "--workers", "2")
    assert done.returncode == 0, done.stderr
    one = json.loads(run["json"].read_text(encoding="utf-8"))
    assert json.loads(done.stdout)["holdout"] == one["holdout"]
