"""Bad input to the commands, through the real command: every case is a located error or a
counted reject with exit 1 (2 for usage), never a traceback or exit 3, and nothing half-written."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

EVENTS = EXAMPLE / "data/events.jsonl"
PROFILES = EXAMPLE / "data/profiles.jsonl"
TRACEBACK = "Traceback (most recent call last)"


def simulate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run_cli("simulate", EXAMPLE, *args)
    assert TRACEBACK not in result.stderr and result.returncode != 3, result.stderr
    return result


def report(*args: str | Path) -> dict:
    result = simulate(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- unreadable files, blamed on the right one (items 1, 2, 9) --------------------------------


def test_a_profiles_file_that_is_not_gzip_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "profiles.jsonl.gz"
    bad.write_text("not gzip")
    result = simulate("--events", EVENTS, "--profiles", bad)
    assert result.returncode == 1
    assert f"{bad}:1:1: error[JC001]: not a gzip file" in result.stderr
    assert "drop the .gz" in result.stderr


def test_an_unreadable_second_event_file_is_the_one_blamed(tmp_path: Path) -> None:
    bad = tmp_path / "second.jsonl.gz"
    bad.write_bytes(gzip.compress(EVENTS.read_bytes())[:200])  # cut short
    for workers in ("1", "2"):
        result = simulate("--events", EVENTS, "--events", bad, "--workers", workers)
        assert result.returncode == 1
        assert result.stderr.startswith(f"{bad}:1:1: error[JC001]: the gzip data is cut short")
        assert str(EVENTS) not in result.stderr


def test_a_directory_or_a_missing_input_is_named_at_its_option(tmp_path: Path) -> None:
    folder = simulate("--events", tmp_path)
    assert folder.returncode == 1
    assert f"--events: error[JC001]: {tmp_path} is a directory" in folder.stderr
    assert "not found" not in folder.stderr
    missing = simulate("--events", EVENTS, "--profiles", tmp_path / "nope.csv")
    assert missing.returncode == 1
    assert f"--profiles: error[JC001]: {tmp_path / 'nope.csv'}: file not found" in missing.stderr
    assert "pass a profiles file" in missing.stderr and "event log" not in missing.stderr


# --- CSV and bad bytes (item 7) ----------------------------------------------------------------


def test_a_csv_without_the_needed_columns_is_one_error_at_its_header(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user,event,time\nu-1,signup,2024-01-01\nu-2,signup,2024-01-02\n")
    result = simulate("--events", events)
    assert result.returncode == 1
    assert f"{events}:1:1: error[JC001]: the CSV header has no user_id, timestamp columns" \
        in result.stderr
    assert result.stderr.count("error[") == 1


def test_one_bad_byte_rejects_its_line_only(tmp_path: Path) -> None:
    rows = [{"event_id": f"e-{i}", "user_id": f"u-{i}", "event": "app_open",
             "timestamp": f"2024-03-01T10:00:{i:02}Z"} for i in range(10)]
    csv_file = tmp_path / "events.csv"
    lines = [b"event_id,user_id,event,timestamp"] + [",".join(r.values()).encode() for r in rows]
    lines[3] = lines[3].replace(b"u-2", b"u-2\xff")
    csv_file.write_bytes(b"\n".join(lines) + b"\n")
    jsonl = tmp_path / "events.jsonl"
    raw = [json.dumps(r).encode() for r in rows]
    raw[2] = raw[2].replace(b"u-2", b"u-2\xff")
    jsonl.write_bytes(b"\n".join(raw) + b"\n")
    for path, line in ((csv_file, 4), (jsonl, 3)):
        for workers in ("1", "2"):
            out = report("--events", path, "--workers", workers)
            assert out["events"]["read"] == 10 and out["events"]["rejected"] == 1, path
            assert out["users"] == 9
            [reject] = out["rejects"]
            assert (reject["file"], reject["line"]) == (str(path), line)
            assert reject["reason"].startswith("not UTF-8 text")


def test_bad_profile_lines_are_counted_and_fail_strict(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.csv"
    profiles.write_bytes(b"user_id,email\nu-1,a@example.com\nu-2,\xff@example.com\n")
    jsonl = tmp_path / "profiles.jsonl"
    jsonl.write_text('{"user_id": "u-1"}\nnot json\n{"email": "no user"}\n')
    for path, count in ((profiles, 1), (jsonl, 2)):
        out = report("--events", EVENTS, "--profiles", path)
        assert out["profiles"]["rejected"] == count == len(out["rejects"])
        assert out["profiles"]["read"] == (2 if path == profiles else 3)
        assert out["events"]["rejected"] == 0  # events are counted apart
        assert all(r["file"] == str(path) for r in out["rejects"])
        assert simulate("--events", EVENTS, "--profiles", path, "--strict").returncode == 1
    two = report("--events", EVENTS, "--profiles", jsonl, "--workers", "2")
    assert (two["profiles"]["read"], two["profiles"]["rejected"]) == (3, 2)


# --- event ids and timestamps (item 14) --------------------------------------------------------


def test_event_ids_are_text_or_integers_and_times_in_range(tmp_path: Path) -> None:
    base = {"user_id": "u-1", "event": "app_open", "timestamp": "2024-03-01T10:00:00Z"}
    records = [
        {**base, "event_id": 7}, {**base, "event_id": "7"},  # the same id: a duplicate
        {**base, "event_id": 1.5}, {**base, "event_id": {}}, {**base, "event_id": True},
        {**base, "event_id": ""},
        {**base, "timestamp": -1e20}, {**base, "timestamp": 1e300},
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = report("--events", events)
    assert out["events"]["duplicates"] == 1 and out["events"]["rejected"] == 6
    reasons = [r["reason"] for r in out["rejects"]]
    assert reasons[:3] == ["event_id must be text or an integer"] * 3
    assert reasons[3].startswith("event_id is empty")
    assert reasons[4:] == ["timestamp -1e+20 is out of range (years 1-9999)",
                           "timestamp 1e+300 is out of range (years 1-9999)"]


# --- the time window (items 8, 11) -------------------------------------------------------------


def test_until_before_start_and_bad_times_have_their_own_code() -> None:
    backwards = simulate("--events", EVENTS, "--start", "2024-06-01", "--until", "2024-05-01")
    assert backwards.returncode == 1
    assert "--until: error[JC931]: --until 2024-05-01 is before --start 2024-06-01" \
        in backwards.stderr
    bad = simulate("--events", EVENTS, "--start", "soon")
    assert bad.returncode == 1 and "--start: error[JC931]: --start 'soon'" in bad.stderr
    unknown = simulate("--events", EVENTS, "--journey", "nope")
    assert unknown.returncode == 1 and "--journey: error[JC930]" in unknown.stderr


def test_report_window_and_messages_write_times_alike(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"user_id": "u-1", "event": "app_open", '
                      '"timestamp": "2024-03-01T10:00:01.5Z"}\n')
    out = report("--events", events)
    assert out["window"] == {"start": "2024-03-01T10:00:01.500Z",
                             "until": "2024-03-01T10:00:01.500Z"}


# --- outputs (item 3) --------------------------------------------------------------------------


def test_simulate_checks_its_outputs_before_the_run(tmp_path: Path) -> None:
    for flag in ("--messages", "--report"):
        result = simulate("--events", EVENTS, flag, tmp_path / "missing" / "out")
        assert result.returncode == 1
        assert f"{flag}: error[JC932]: cannot write {tmp_path / 'missing' / 'out'}: the folder " \
            in result.stderr
        assert "mkdir -p" in result.stderr and result.stdout == ""  # no report: no run
    folder = simulate("--events", EVENTS, "--report", tmp_path)
    assert folder.returncode == 1 and "it is a directory" in folder.stderr


def test_graph_output_into_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "g.mmd"
    result = run_cli("graph", "cart-abandonment", "-p", EXAMPLE, "--output", target)
    assert result.returncode == 1 and TRACEBACK not in result.stderr
    assert f"--output: error[JC932]: cannot write {target}" in result.stderr
    unknown = run_cli("graph", "nope", "-p", EXAMPLE)
    assert unknown.returncode == 1 and "nope: error[JC930]" in unknown.stderr


def test_init_where_no_folder_can_be_made(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    under_file = run_cli("init", afile / "p")
    assert under_file.returncode == 1 and TRACEBACK not in under_file.stderr
    assert f"error[JC932]: cannot write {afile / 'p'}: {afile} is a file, not a folder" \
        in under_file.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    if sys.platform.startswith("linux"):
        proc = run_cli("init", "/proc/journeyctl-test")
        assert proc.returncode == 1 and "error[JC932]" in proc.stderr


# --- ports (item 6) ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["fake-provider", "serve"])
@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_a_usage_error(command: str, port: str) -> None:
    result = run_cli(command, "--port", port)
    assert result.returncode == 2 and TRACEBACK not in result.stderr
    assert "Invalid value for '--port'" in result.stderr


def test_validate_does_not_load_the_delivery_machinery() -> None:
    code = ("import sys, channel_adapters\n"
            "lazy = {'channel_adapters.delivery', 'channel_adapters.factory'}\n"
            "assert not lazy & set(sys.modules), lazy & set(sys.modules)\n"
            "from channel_adapters import RateLimiter, adapter_for, deliver\n")
    subprocess.run([sys.executable, "-c", code], check=True)
