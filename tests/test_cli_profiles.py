"""End-to-end: `journeyctl simulate` checks profile lines (and `identify` events) against the
catalog's profile attributes: a declared attribute of the wrong type rejects the line, located
and counted; attributes the catalog does not declare are kept and counted in the report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

SIGNUP = "2024-03-01T10:00:00+09:00"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def simulate(events: Path, profiles: Path, *extra: str | Path
             ) -> subprocess.CompletedProcess[str]:
    result = run_cli("simulate", EXAMPLE, "--events", events, "--profiles", profiles,
                     "--journey", "onboarding", *extra)
    assert "Traceback" not in result.stderr and result.returncode != 3, result.stderr
    return result


def test_a_profile_attribute_of_the_wrong_type_rejects_its_line(tmp_path: Path) -> None:
    profiles = write_jsonl(tmp_path / "profiles.jsonl", [
        {"user_id": "ok", "email": "ok@example.com", "consent": {"email": True},
         "referral": "friend"},
        {"user_id": "bad", "email": "bad@example.com", "consent": {"email": "yes"}},
        {"user_id": "also", "email": "also@example.com", "consent": {"email": True, "kakao": 1}},
    ])
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"user_id": user, "event": "signup", "timestamp": SIGNUP} for user in
        ("ok", "bad", "also")])
    for workers in ("1", "2"):
        done = simulate(events, profiles, "--json", "--workers", workers)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        # profile lines are counted apart from events (SPEC §8: rejected is a part of read)
        assert (report["events"]["read"], report["events"]["rejected"]) == (3, 0)
        assert report["rejects"] == [{
            "file": str(profiles), "line": 2,
            "reason": "attribute 'consent.email' is text, the catalog says boolean"}]
        # the rejected line is left out whole: "bad" has no profile, so no address
        welcome = report["journeys"]["onboarding"]["steps"]["welcome"]
        assert (welcome["sent"], welcome["suppressed"]) == (2, {"unreachable": 1})
        assert report["profiles"] == {"read": 3, "rejected": 1, "undeclared": {
            "lines": 2, "attributes": {"consent.kakao": 1, "referral": 1}}}
    strict = simulate(events, profiles, "--strict")
    assert strict.returncode == 1
    assert ("3 events read (0 rejected, 0 duplicates), 3 profiles read (1 rejected)"
            in strict.stdout)
    assert "rejected records: 1" in strict.stdout
    assert (f"{profiles}:2: attribute 'consent.email' is text, the catalog says boolean"
            in strict.stdout)
    assert ("2 profile lines with attributes the catalog does not declare (kept; declare them "
            "under `profile:` to use them): consent.kakao (1), referral (1)") in strict.stdout
    page = tmp_path / "report.html"
    assert simulate(events, profiles, "--report", page).returncode == 0
    assert "2 profile lines with attributes the catalog does not declare" in page.read_text(
        encoding="utf-8")


def test_identify_events_follow_the_profile_types(tmp_path: Path) -> None:
    profiles = write_jsonl(tmp_path / "profiles.jsonl", [
        {"user_id": "u", "email": "u@example.com", "consent": {"email": True}}])
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"user_id": "u", "event": "identify", "timestamp": SIGNUP,
         "properties": {"vip": "yes", "name": "김민지"}},
        {"user_id": "u", "event": "identify", "timestamp": SIGNUP,
         "properties": {"vip_since": "2024-02-01", "referral": "friend"}}])
    done = simulate(events, profiles, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"]["rejected"] == 1
    assert report["rejects"] == [{
        "file": str(events), "line": 1,
        "reason": "profile attribute 'vip' is text, the catalog says boolean"}]
    assert simulate(events, profiles, "--strict").returncode == 1


def test_csv_profiles_are_typed_by_the_catalog(tmp_path: Path) -> None:
    """A CSV cell of a declared `string` stays text (a phone number is not a number), a
    `user_id` stays text ("007" is not 7), a cell that is not of the declared type (`yes` for
    a boolean: only true and false are) rejects its line with the words a JSON line gets, and
    so do columns that nest under a column holding a value."""
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("user_id,email,phone,consent.sms,note,note.lang\n"
                        "007,a@example.com,+821012345678,true,,\n"
                        "v,v@example.com,+821000000000,yes,,\n"
                        "w,w@example.com,,,hello,ko\n", encoding="utf-8")
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"user_id": user, "event": "signup", "timestamp": SIGNUP} for user in ("007", "w")])
    done = simulate(events, profiles, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rejects"] == [
        {"file": str(profiles), "line": 3,
         "reason": "attribute 'consent.sms' is text, the catalog says boolean"},
        {"file": str(profiles), "line": 4,
         "reason": "column 'note.lang' nests under column 'note', which has a value"}]
    welcome = report["journeys"]["onboarding"]["steps"]["welcome"]
    assert (welcome["sent"], welcome["suppressed"]) == (1, {"unreachable": 1})


def test_a_dotted_key_in_a_json_profile_rejects_its_line(tmp_path: Path) -> None:
    profiles = write_jsonl(tmp_path / "profiles.jsonl", [
        {"user_id": "u", "email": "u@example.com", "consent.email": True}])
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"user_id": "u", "event": "signup", "timestamp": SIGNUP}])
    done = simulate(events, profiles, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rejects"] == [{
        "file": str(profiles), "line": 1,
        "reason": "attribute 'consent.email' is written as one key with a dot; write it "
                  'nested: {"consent": {"email": true}}'}]
    assert report["profiles"]["undeclared"] == {"lines": 0, "attributes": {}}


def test_csv_files_saved_by_excel_as_csv_utf8_are_read(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts the file with a byte order mark."""
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("user_id,email,consent.email\nu,u@example.com,TRUE\n",
                        encoding="utf-8-sig")
    events = tmp_path / "events.csv"
    events.write_text(f"user_id,event,timestamp\nu,signup,{SIGNUP}\n", encoding="utf-8-sig")
    done = simulate(events, profiles, "--json", "--strict")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["rejects"] == [] and report["profiles"]["read"] == 1
    assert report["journeys"]["onboarding"]["steps"]["welcome"]["sent"] == 1
