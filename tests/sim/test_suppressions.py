"""The global suppression list in `simulate` (`--suppressions FILE`): the file's forms and its
located errors; a listed user's promotional sends are `suppressed_list` — checked after
consent, before the control group, with no fallback — and their transactional ones still go;
split across workers, the same report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from journeyctl.sim.host import Options
from journeyctl.sim.readers import InputError
from journeyctl.sim.run import simulate
from journeyctl.sim.suppressions import read_suppressions
from tests.support.scenarios import EVERYONE, build

PROMO_THEN_RECEIPT = """trigger: {event: signup}
steps:
  - {id: promo, send: {channel: email, template: e1, fallback: [{channel: sms, template: s1}]}}
  - {id: receipt, send: {channel: email, template: e2, category: transactional}}
"""


def test_the_file_lists_ids_or_json_lines_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "list.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write('user_id\n# from the old ESP\n u1 \n\n{"user_id": "u2", "reason": "x"}\n'
                   '{"user_id": 3}\n김민수\n')
    assert read_suppressions(path) == {"u1", "u2", "3", "김민수"}


@pytest.mark.parametrize(("text", "line", "error"), [
    ("u1\n{oops\n", 2, "not a JSON object"),
    ('u1\nu2\n{"id": "u3"}\n', 3, "no user_id"),
    ("u1\n\xff\n", 2, "not UTF-8"),
])
def test_a_bad_line_is_located(tmp_path: Path, text: str, line: int, error: str) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_suppressions(path)
    assert (caught.value.line, caught.value.path) == (line, str(path))
    assert error in caught.value.message and caught.value.hint


def _run(tmp_path: Path, suppressed: frozenset[str], settings: str = "",
         workers: int = 1) -> tuple[dict, int]:
    project = build(tmp_path / "p", {"j": PROMO_THEN_RECEIPT}, settings)
    users = [f"u{n}" for n in range(40)]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({
        "event_id": f"e{n}", "user_id": user, "event": "signup",
        "timestamp": f"2024-03-04T09:{n:02d}:00Z"}) + "\n" for n, user in enumerate(users)),
        encoding="utf-8")
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text("".join(json.dumps({"user_id": u, **EVERYONE}) + "\n" for u in users),
                        encoding="utf-8")
    result = simulate(project, [events], profiles, Options(suppressed=suppressed),
                      workers=workers, keep_messages=False)
    return result.report, result.workers


def test_listed_users_get_transactional_messages_only(tmp_path: Path) -> None:
    # (nobody is not a user of the log: listing them changes nothing)
    report, _ = _run(tmp_path, frozenset({"u3", "u7", "nobody"}),
                     settings='holdout: {percent: 50, salt: "s"}\n')
    steps = report["journeys"]["j"]["steps"]
    # listed users are counted as such even when the control group has them too
    assert steps["promo"]["suppressed"]["suppressed_list"] == 2
    assert steps["promo"]["sent_by_channel"].get("sms", 0) == 0  # no fallback for them
    assert steps["receipt"]["sent"] == 40


def test_workers_give_the_same_report(tmp_path: Path) -> None:
    listed = frozenset(f"u{n}" for n in range(0, 40, 3))
    one, _ = _run(tmp_path / "one", listed)
    two, workers = _run(tmp_path / "two", listed, workers=2)
    assert workers == 2 and one == two
    assert one["journeys"]["j"]["steps"]["promo"]["suppressed"] == {"suppressed_list": 14}
