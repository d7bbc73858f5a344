"""End-to-end: `journeyctl simulate` on real files, through the real command."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import orjson
import pytest

from tests.support import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

EVENTS = EXAMPLE / "data/events.jsonl"
PROFILES = EXAMPLE / "data/profiles.jsonl"


def simulate_json(*extra: str | Path, events: Path = EVENTS) -> dict:
    result = run_cli("simulate", EXAMPLE, "--events", events, "--profiles", PROFILES, "--json",
                     *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    messages = tmp_path_factory.mktemp("sim") / "messages.jsonl"
    report = simulate_json("--messages", messages)
    return report, [orjson.loads(line) for line in messages.read_bytes().splitlines()]


def test_report_shape_and_invariants(baseline: tuple[dict, list[dict]]) -> None:
    report, messages = baseline
    assert report["schema_version"] == 1
    lines = EVENTS.read_bytes().count(b"\n")
    assert report["events"] == {"read": lines, "rejected": 0, "duplicates": 0, "skipped": 0}
    users = {orjson.loads(line)["user_id"] for line in EVENTS.read_bytes().splitlines()}
    assert report["users"] == len(users)
    assert sorted(report["journeys"]) == sorted(p.stem for p in (EXAMPLE / "flows").glob("*"))
    for journey in report["journeys"].values():
        exited = journey["exited"]
        assert journey["entered"] == (journey["completed"] + exited["goal"]
                                      + exited["exit_event"] + journey["active"])
        for step in journey["steps"].values():
            assert step["sent"] <= step["reached"]
    assert report["messages"]["total"] == len(messages) == sum(
        report["messages"]["by_channel"].values()) == sum(report["messages"]["by_day"].values())


def test_messages_file(baseline: tuple[dict, list[dict]]) -> None:
    _, messages = baseline
    assert messages, "the sample data sends messages"
    keys = ["time", "user_id", "journey", "step", "channel", "template", "category", "variant"]
    assert all(list(m) == keys for m in messages)
    assert all(m["time"].endswith("Z") for m in messages)
    assert [m["time"] for m in messages] == sorted(m["time"] for m in messages)
    variants = {m["variant"] for m in messages if m["variant"]}
    assert variants >= {"coupon_test=coupon", "offer_test=points"}


def test_text_report_and_trace() -> None:
    user = orjson.loads(EVENTS.read_bytes().splitlines()[0])["user_id"]
    result = run_cli("simulate", EXAMPLE, "--events", EVENTS, "--profiles", PROFILES,
                     "--trace", user)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for journey in ("cart-abandonment", "onboarding", "vip-campaign"):
        assert f"{journey} · entered" in out
    assert "A/B coupon_test" in out and "p-value" in out
    assert "channels (cost in KRW)" in out and "messages by day" in out
    assert f"trace of {user}" in out and "app_open" in out


def test_formats_give_the_same_result(tmp_path: Path, baseline: tuple[dict, list[dict]]
                                      ) -> None:
    """CSV, gzip, several files, a shuffled file and a file grouped by user all equal the
    time-sorted JSONL: input order never changes the result (SPEC §3)."""
    rows = [orjson.loads(line) for line in EVENTS.read_bytes().splitlines()]
    gz = tmp_path / "events.jsonl.gz"
    with gzip.open(gz, "wb") as handle:
        handle.write(EVENTS.read_bytes())
    shuffled = tmp_path / "shuffled.jsonl"
    random.Random(7).shuffle(copy := list(rows))
    shuffled.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in copy))
    grouped = tmp_path / "grouped.jsonl"
    by_user = sorted(rows, key=lambda r: r["user_id"])  # stable: time order within a user
    grouped.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in by_user))
    as_csv = tmp_path / "events.csv"
    _write_csv(as_csv, rows)
    half = len(rows) // 2
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[:half]))
    second.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[half:]))
    expected, expected_messages = baseline
    for events in (gz, shuffled, grouped, as_csv, [first, second]):
        files = events if isinstance(events, list) else [events]
        out = tmp_path / "m.jsonl"
        args: list[str | Path] = []
        for file in files:
            args += ["--events", file]
        result = run_cli("simulate", EXAMPLE, *args, "--profiles", PROFILES, "--json",
                         "--messages", out)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["journeys"] == expected["journeys"], files
        assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == expected_messages


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = ["event_id", "user_id", "event", "timestamp"]
    extra = sorted({k for r in rows for k in r.get("properties", {})})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns + extra)
        for r in rows:
            props = r.get("properties", {})
            writer.writerow([r[c] for c in columns] + [props.get(k, "") for k in extra])


BAD_LINES = [
    b'{"event_id": "x1", "user_id": "u1", "event": "app_open", "timestamp": "2024-03-01T10:00:00+09:00"}',
    b'{"user_id": "u1", "event": "app_open", "timestamp": "2024-03-01T11:00:00+09:00"',
    b'{"event": "app_open", "timestamp": "2024-03-01T11:00:00+09:00"}',
    b'{"user_id": "u1", "event": "app_open", "timestamp": "yesterday"}',
    b'{"user_id": "u1", "event": "add_to_cart", "timestamp": "2024-03-01T12:00:00+09:00", "properties": {"price": "cheap", "product_id": "p"}}',
    b'{"user_id": "u1", "event": "purchase", "timestamp": "2024-03-01T12:00:00+09:00", "properties": {"order_id": "o"}}',
    b'{"event_id": "x1", "user_id": "u1", "event": "app_open", "timestamp": "2024-03-01T10:00:00+09:00"}',
    b"[1, 2]",
    b'{"user_id": "u2", "event": "brand_new_event", "timestamp": "2024-03-01 12:00:00"}',
]


def test_bad_records_are_located_counted_and_strict_fails(tmp_path: Path) -> None:
    events = tmp_path / "bad.jsonl"
    events.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    report = simulate_json(events=events)
    assert report["events"] == {"read": 9, "rejected": 6, "duplicates": 1, "skipped": 0}
    reasons = {r["line"]: r["reason"] for r in report["rejects"]}
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "missing user_id"
    assert reasons[4] == "unparseable timestamp 'yesterday'"
    assert reasons[5] == "property 'price' is text, the catalog says number"
    assert reasons[6] == "event 'purchase' needs property 'amount'"
    assert reasons[8] == "a record must be a JSON object"
    assert all(r["file"] == str(events) for r in report["rejects"])
    assert report["users"] == 2  # an event for an unknown user and an unknown event are fine
    strict = run_cli("simulate", EXAMPLE, "--events", events, "--strict")
    assert strict.returncode == 1
    assert f"{events}:4" in strict.stdout and "unparseable timestamp" in strict.stdout


def test_until_lets_trailing_waits_fire() -> None:
    short = simulate_json("--journey", "post-purchase")
    longer = simulate_json("--journey", "post-purchase", "--until", "2024-06-30")
    assert list(short["journeys"]) == ["post-purchase"]
    assert longer["journeys"]["post-purchase"]["active"] < short["journeys"]["post-purchase"][
        "active"]
    assert longer["window"]["until"] == "2024-06-29T15:00:00Z"  # midnight in Asia/Seoul


def test_input_errors_are_clear(tmp_path: Path) -> None:
    missing = run_cli("simulate", EXAMPLE, "--events", tmp_path / "nope.jsonl")
    assert missing.returncode == 1 and "nope.jsonl: file not found" in missing.stderr
    unknown = run_cli("simulate", EXAMPLE, "--events", EVENTS, "--journey", "nope")
    assert unknown.returncode == 1 and "no journey 'nope'" in unknown.stderr
    bad_time = run_cli("simulate", EXAMPLE, "--events", EVENTS, "--until", "soon")
    assert bad_time.returncode == 1 and "--until 'soon' is not a time" in bad_time.stderr
    no_events = run_cli("simulate", EXAMPLE)
    assert no_events.returncode == 2 and "--events" in no_events.stderr
    not_gzip = tmp_path / "x.jsonl.gz"
    not_gzip.write_text("not gzip")
    broken = run_cli("simulate", EXAMPLE, "--events", not_gzip)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr


def test_an_invalid_project_is_not_simulated(new_project: Path) -> None:
    path = new_project / "journeys/welcome.yaml"
    path.write_text(path.read_text().replace("next: exit", "next: nowhere"))
    events = new_project / "e.jsonl"
    events.write_text('{"user_id": "u", "event": "signup", "timestamp": "2024-01-01T00:00:00Z"}\n')
    result = run_cli("simulate", new_project, "--events", events)
    assert result.returncode == 1 and "JC203" in result.stderr


def test_unsorted_input_is_sorted_in_chunks_on_disk(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     baseline: tuple[dict, list[dict]]) -> None:
    """Out-of-order input is sorted with bounded memory: runs of CHUNK records spilled to disk
    and merged. With a tiny chunk the sample makes dozens of runs; the result is unchanged."""
    from journeyctl.project import load_project
    from journeyctl.sim import order
    from journeyctl.sim.run import simulate

    rows = EVENTS.read_bytes().splitlines()
    random.Random(3).shuffle(rows)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(rows) + b"\n")
    spilled: list[int] = []
    real_spill = order._spill

    def counting_spill(chunk: list, folder: Path, index: int) -> Path:
        spilled.append(len(chunk))
        return real_spill(chunk, folder, index)

    monkeypatch.setattr(order, "CHUNK", 200)
    monkeypatch.setattr(order, "_spill", counting_spill)
    project = load_project(EXAMPLE).project
    assert project is not None
    result = simulate(project, [shuffled], PROFILES)
    assert result.stats.restarted
    assert len(spilled) > 30 and max(spilled) <= 200
    expected, expected_messages = baseline
    assert result.report["journeys"] == expected["journeys"]
    assert result.messages.rows() == expected_messages


def test_messages_spill_to_disk_and_merge_in_order(monkeypatch: pytest.MonkeyPatch,
                                                   baseline: tuple[dict, list[dict]]) -> None:
    from journeyctl.project import load_project
    from journeyctl.sim.outputs import Messages
    from journeyctl.sim.run import simulate

    monkeypatch.setattr(Messages, "SPILL", 50)
    project = load_project(EXAMPLE).project
    assert project is not None
    for workers in (1, 2):
        result = simulate(project, [EVENTS], PROFILES, workers=workers)
        assert result.messages is not None and len(result.messages.runs) >= 2
        assert result.messages.rows() == baseline[1]
        folder = result.messages.folder()
        result.messages.close()
        assert not folder.exists()
