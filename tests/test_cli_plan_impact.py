"""End-to-end: `plan --events` in a pull request. The example project in a git repository,
applied to a fresh SQLite state with the real CLI, then a `wait` and a template edited: the plan
shows, per changed journey and step, what the change does to the simulated numbers — exactly
two `simulate --json` runs (the project as applied, and as edited) subtracted."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import EXAMPLE

pytestmark = pytest.mark.e2e  # every test here starts a process

Cli = Callable[..., subprocess.CompletedProcess[str]]
GIT_ENV = {"GIT_AUTHOR_NAME": "Min Kim", "GIT_AUTHOR_EMAIL": "min@example.com",
           "GIT_COMMITTER_NAME": "Min Kim", "GIT_COMMITTER_EMAIL": "min@example.com"}
EVENTS = "shop/data/events.jsonl"
PROFILES = "shop/data/profiles.jsonl"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV})


def copy_example(to: Path) -> Path:
    shutil.copytree(EXAMPLE, to, ignore=shutil.ignore_patterns(".journeyctl"))
    return to


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, cli: Cli) -> Path:
    """A git repository holding the example project as `shop/`, applied to a fresh state
    (outside the repository: `--state`), then edited as a pull request would: a `wait`
    shortened and a template's text changed. `applied/` beside it is the project as it was
    applied."""
    copy_example(tmp_path / "repo" / "shop")
    git(tmp_path / "repo", "init", "-q", "-b", "main")
    git(tmp_path / "repo", "add", "-A")
    git(tmp_path / "repo", "commit", "-qm", "journeys")
    copy_example(tmp_path / "applied")
    done = cli("apply", "shop", "--state", state_url(tmp_path), "--auto-approve",
               cwd=tmp_path / "repo")
    assert done.returncode == 0, done.stderr
    shop = tmp_path / "repo" / "shop"
    edit(shop / "flows/cart-abandonment.yaml", "  - id: wait_6h\n    wait: 6h",
         "  - id: wait_6h\n    wait: 2h")
    edit(shop / "templates/cart_email.yaml", "sell out fast", "sell out quickly")
    return tmp_path / "repo"


def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def report(cli: Cli, project: Path, cwd: Path) -> dict[str, Any]:
    done = cli("simulate", project, "--events", EVENTS, "--profiles", PROFILES, "--json",
               cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def numbers(journey: dict[str, Any]) -> Iterator[tuple[tuple[str | None, str, str | None],
                                                      float]]:
    """Every number `plan --events` compares, by (step, metric, key), from a report's journey."""
    for metric in ("entered", "conversions", "revenue", "cost"):
        yield (None, metric, None), journey[metric]
    for step, counts in journey["steps"].items():
        yield (step, "reached", None), counts["reached"]
        for channel, n in counts["sent_by_channel"].items():
            yield (step, "sent", channel), n
        for reason, n in counts["suppressed"].items():
            yield (step, "suppressed", reason), n


def expected_rows(before: dict[str, Any] | None, after: dict[str, Any], journey: str
                  ) -> dict[tuple[str | None, str, str | None], tuple[float, float]]:
    """(before, after) of each number that differs; a side without the journey counts 0."""
    old = dict(numbers(before["journeys"][journey])) if before else {}
    new = dict(numbers(after["journeys"][journey]))
    both = {key: (old.get(key, 0), new.get(key, 0)) for key in {*old, *new}}
    return {key: pair for key, pair in both.items() if round(pair[1] - pair[0], 4)}


def rows_of(impact: dict[str, Any], journey: str
            ) -> dict[tuple[str | None, str, str | None], tuple[float, float]]:
    rows = [row for row in impact["rows"] if row["journey"] == journey]
    for row in rows:
        assert row["delta"] == round(row["after"] - row["before"], 4) != 0, row
    return {(row["step"], row["metric"], row["key"]): (row["before"], row["after"])
            for row in rows}


def plan(cli: Cli, repo: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return cli("plan", "shop", "--state", state_url(repo.parent), "--events", EVENTS,
               "--profiles", PROFILES, *more, cwd=repo)


def test_the_plan_shows_what_the_change_does_to_the_simulated_numbers(
        repo: Path, cli: Cli) -> None:
    done = plan(cli, repo, "--format", "json")
    assert done.returncode == 0, done.stderr
    impact = json.loads(done.stdout)["impact"]
    assert impact["baseline_serial"] == 1
    assert impact["events"] == [EVENTS] and impact["profiles"] == PROFILES
    before = report(cli, repo.parent / "applied", repo)
    after = report(cli, repo / "shop", repo)
    assert before != after  # the edit changes the numbers, so the comparison means something
    expected = expected_rows(before, after, "cart-abandonment")
    assert rows_of(impact, "cart-abandonment") == expected
    # the shorter wait lets more users on to the next sends: sends by channel move
    assert any(metric == "sent" for _, metric, _ in expected)
    # only the changed journey: the others run the same versions on both sides
    assert {row["journey"] for row in impact["rows"]} == {"cart-abandonment"}
    assert impact["window"] == after["window"]


def test_the_markdown_comment_and_the_text_show_only_what_changes(
        repo: Path, cli: Cli) -> None:
    data = json.loads(plan(cli, repo, "--format", "json").stdout)["impact"]["rows"]
    done = plan(cli, repo, "--format", "markdown")
    assert done.returncode == 0, done.stderr
    comment = done.stdout
    plan_part, table = comment.split("#### Simulated impact", 1)
    assert "```diff" in plan_part and "wait: 6h → 2h" in plan_part  # the plan, then the impact
    assert "the applied versions (serial 1)" in table
    lines = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(lines) == len(data) > 0
    for line, row in zip(lines, data, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == f"`{row['journey']}`"
        before, after, change = (float(cell.replace(",", "")) for cell in cells[3:])
        assert (before, after, change) == (row["before"], row["after"], row["delta"])
        assert change != 0 and cells[5][0] in "+-"  # a row whose number does not move is left out
    assert "`onboarding`" not in table  # an unchanged journey has no row
    text = plan(cli, repo).stdout
    assert "Simulated on shop/data/events.jsonl with profiles shop/data/profiles.jsonl" in text
    header = next(line for line in text.splitlines() if line.split()[:3] == [
        "journey", "step", "number"])
    body = text.split(header, 1)[1].strip().splitlines()
    assert len(body) == len(data)
    sent = next(row for row in data if row["metric"] == "sent")
    assert re.search(rf"^  cart-abandonment +{sent['step']} +sent \({sent['key']}\) +"
                     rf"{sent['before']:,} +{sent['after']:,} +[+-]{abs(sent['delta']):,}$",
                     text, re.M), text


def test_a_first_plan_compares_with_nothing_applied(tmp_path: Path, cli: Cli) -> None:
    copy_example(tmp_path / "shop")
    done = cli("plan", "shop", "--state", state_url(tmp_path), "--events", EVENTS,
               "--profiles", PROFILES, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan_json = json.loads(done.stdout)
    impact = plan_json["impact"]
    assert impact["baseline_serial"] is None
    assert not (tmp_path / "state.db").exists()  # plan never writes the state
    after = report(cli, tmp_path / "shop", tmp_path)
    created = [c["journey"] for c in plan_json["changes"] if c["action"] == "create"]
    assert len(created) == len(after["journeys"]) == 6
    for journey in created:
        assert rows_of(impact, journey) == expected_rows(None, after, journey)
    assert all(row["before"] == 0 for row in impact["rows"])
    text = cli("plan", "shop", "--state", state_url(tmp_path), "--events", EVENTS,
               cwd=tmp_path).stdout
    assert "nothing applied (every number 0) → the files." in text


def test_a_deleted_journey_loses_all_its_numbers(repo: Path, cli: Cli) -> None:
    (repo / "shop/flows/vip-campaign.yaml").unlink()
    impact = json.loads(plan(cli, repo, "--format", "json").stdout)["impact"]
    before = report(cli, repo.parent / "applied", repo)
    vip = rows_of(impact, "vip-campaign")
    assert vip and all(after == 0 for _, after in vip.values())
    assert vip == {key: (was, 0) for key, (was, _) in numbers_nonzero(before, "vip-campaign")}


def numbers_nonzero(report_json: dict[str, Any], journey: str
                    ) -> list[tuple[tuple[str | None, str, str | None], tuple[float, float]]]:
    return [(key, (n, 0)) for key, n in numbers(report_json["journeys"][journey]) if n]


def test_bad_inputs_are_the_errors_simulate_gives(repo: Path, cli: Cli) -> None:
    for bad in (["--events", "shop/data/event.jsonl"], ["--events", EVENTS, "--until", "soon"],
                ["--events", EVENTS, "--profiles", "shop/data"]):
        planned = cli("plan", "shop", "--state", state_url(repo.parent), *bad, cwd=repo)
        simulated = cli("simulate", "shop", *bad, cwd=repo)
        assert planned.returncode == simulated.returncode == 1, planned.stderr
        assert "Traceback" not in planned.stderr
        code = re.search(r"error\[(JC\d{3})\]: (.*)", planned.stderr)
        assert code is not None, planned.stderr
        assert code.groups() == re.search(r"error\[(JC\d{3})\]: (.*)",
                                          simulated.stderr).groups()  # type: ignore[union-attr]
    missing = cli("plan", "shop", "--state", state_url(repo.parent), "--events",
                  "shop/data/event.jsonl", cwd=repo)
    assert "error[JC001]: shop/data/event.jsonl: file not found" in missing.stderr
    hint = re.search(r"did you mean shop/data/events.jsonl\? (journeyctl plan .*)$",
                     missing.stderr, re.M)
    assert hint is not None, missing.stderr
    pasted = cli(*shlex.split(hint.group(1))[1:], cwd=repo)  # the hint's command, as it is
    assert pasted.returncode == 0 and "Simulated on shop/data/events.jsonl" in pasted.stdout
    until = cli("plan", "shop", "--state", state_url(repo.parent), "--events", EVENTS,
                "--until", "soon", cwd=repo)
    assert "--until: error[JC931]: --until 'soon' is not a time" in until.stderr
    alone = cli("plan", "shop", "--state", state_url(repo.parent), "--until", "2024-05-01",
                cwd=repo)
    assert alone.returncode == 2 and "--profiles and --until go with --events" in alone.stderr


def test_a_saved_plan_with_its_impact_matches_the_schema_and_applies(
        repo: Path, cli: Cli) -> None:
    from jsonschema import Draft202012Validator

    from tests.support import REPO

    done = plan(cli, repo, "--out", "plan.json")
    assert done.returncode == 0, done.stderr
    saved = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    assert saved["impact"]["rows"]
    schema = json.loads((REPO / "schema/plan.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(saved)
    applied = cli("apply", "plan.json", "--state", state_url(repo.parent), cwd=repo)
    assert applied.returncode == 0, applied.stderr
    # applied: the files are now what the state holds, and no number moves
    again = json.loads(plan(cli, repo, "--format", "json").stdout)
    assert again["impact"]["baseline_serial"] == 2 and again["impact"]["rows"] == []


def test_the_ci_workflows_plan_comment_runs_in_a_new_project(tmp_path: Path, cli: Cli) -> None:
    from tests.test_docs_ci import PLAN_COMMENT

    assert cli("init", "shop", cwd=tmp_path).returncode == 0
    done = cli(*PLAN_COMMENT[1:], cwd=tmp_path / "shop")
    assert done.returncode == 0, done.stderr
    assert "#### Simulated impact" in done.stdout
    assert "On `data/events.jsonl` with profiles `data/profiles.jsonl`" in done.stdout
    assert "| `welcome` | `send_welcome` | sent (email) | 0 |" in done.stdout
