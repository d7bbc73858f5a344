"""The global suppression list and user deletion on a real `serve` (SQLite and PostgreSQL):
a listed user gets transactional messages and no promotional one (`suppressed_list`, in the
live report too) until taken off the list; `DELETE /v1/users/{id}` leaves no row of the user
in any table — their waiting journey never resumes — and a later event starts a new user."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from channel_adapters.fake import FakeProvider
from tests.support.harness import Served, State, apply, project_copy, rows, wait_until

pytestmark = pytest.mark.e2e  # every test here starts a process

IDLE = ("SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL) + (SELECT COUNT(*) "
        "FROM timers) + (SELECT COUNT(*) FROM outbox WHERE status = 'pending')")
USER_TABLES = ("profiles", "user_state", "instances", "timers", "outbox", "inbox",
               "set_aside", "suppressions", "aliases")
STAMP = "2020-01-01T00:00:00Z"


def _profile(user: str) -> dict:
    return {"user_id": user, "email": f"{user}@example.com", "push_token": f"tok-{user}",
            "consent": {"email": True, "push": True}}


def _sent(state: State, user: str) -> list[tuple[str, str]]:
    return sorted(rows(state, "SELECT step, category FROM outbox WHERE user_id = ?", user))


def test_a_listed_user_gets_no_promotional_message_until_taken_off(
        tmp_path: Path, state: State) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        added = served.post("/v1/suppressions", {"user_ids": ["s1", "s2", "s1"],
                                                 "reason": "asked by phone"})
        assert added.status_code == 200 and added.json() == {"added": 2, "already": 0}
        assert served.post("/v1/suppressions", {"user_ids": ["s1"]}).json() == {
            "added": 0, "already": 1}
        listed = served.get("/v1/suppressions?limit=1").json()
        assert [s["user_id"] for s in listed["suppressions"]] == ["s1"]
        assert listed["suppressions"][0]["reason"] == "asked by phone"
        rest = served.get(f"/v1/suppressions?limit=1&after={listed['next']}").json()
        assert [s["user_id"] for s in rest["suppressions"]] == ["s2"]
        assert served.post("/v1/profiles", {"profiles": [_profile(u) for u in
                                                         ("s1", "t1")]}).status_code == 200
        served.post("/v1/events", {"events": [
            {"user_id": u, "event": "signup", "timestamp": STAMP} for u in ("s1", "t1")]})
        wait_until(lambda: rows(state, IDLE) == [(0,)] and len(_sent(state, "t1")) == 3,
                   timeout=30)
        report = served.get("/v1/journeys/welcome/report").json()
        # off the list before they sign up: their promotional messages go
        assert served.client.delete("/v1/suppressions/s1").json() == {"removed": 1}
        assert served.client.delete("/v1/suppressions/s1").status_code == 404
        assert served.client.request("DELETE", "/v1/suppressions",
                                     json={"user_ids": ["s2", "nobody"]}).json() == {
            "removed": 1}
        served.post("/v1/profiles", {"profiles": [_profile("s2")]})
        served.post("/v1/events", {"events": [
            {"user_id": "s2", "event": "signup", "timestamp": STAMP}]})
        wait_until(lambda: rows(state, IDLE) == [(0,)] and len(_sent(state, "s2")) == 3,
                   timeout=30)
        bad = served.post("/v1/suppressions", {"user_ids": ["ok", ""]})
        anonymous = httpx.Client(base_url=served.url)
        refused = [anonymous.delete("/v1/users/t1").status_code,
                   anonymous.post("/v1/suppressions", json={"user_ids": ["u1"]}).status_code,
                   anonymous.get("/v1/suppressions").status_code,
                   anonymous.delete("/v1/suppressions/s1").status_code]
        anonymous.close()
        assert served.get("/v1/suppressions").json() == {"suppressions": [], "next": None}
    assert _sent(state, "t1") == [("hello", "transactional"), ("nudge", "promotional"),
                                  ("reminder", "promotional")]
    assert _sent(state, "s1") == [("hello", "transactional")]
    assert _sent(state, "s2") == _sent(state, "t1")
    steps = report["journeys"]["welcome"]["steps"]
    assert steps["nudge"]["suppressed"] == {"suppressed_list": 1}
    assert steps["reminder"]["suppressed"] == {"suppressed_list": 1}
    assert bad.status_code == 400 and "user_ids[1]" in bad.json()["error"]
    assert refused == [401] * 4


def test_a_deleted_user_leaves_no_row_and_their_journey_never_resumes(
        tmp_path: Path, state: State) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        served.post("/v1/profiles", {"profiles": [_profile(u) for u in ("gone", "kept")]})
        served.post("/v1/suppressions", {"user_ids": ["gone"]})
        served.post("/v1/events", {"events": [
            {"user_id": u, "event": "signup", "event_id": "s", "timestamp": STAMP}
            for u in ("gone", "kept")]})
        # both got the first message and wait (2 s) for the next step
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
                   == [(2,)] and rows(state, "SELECT COUNT(*) FROM timers") == [(2,)])
        assert served.get("/v1/users/gone").status_code == 200
        deleted = served.client.delete("/v1/users/gone")
        assert deleted.status_code == 202 and deleted.json()["deletion"] == "accepted"
        wait_until(lambda: served.get("/v1/users/gone").status_code == 404)
        left = {table: rows(state, f"SELECT COUNT(*) FROM {table} WHERE user_id = ?",
                            "gone")[0][0] for table in USER_TABLES}
        # the other user's journey goes on to its end: the engine ran past the deletion
        wait_until(lambda: rows(state, IDLE) == [(0,)] and len(_sent(state, "kept")) == 3,
                   timeout=30)
        assert _sent(state, "gone") == []
        # a later event (the same id) is a new user's
        served.post("/v1/profiles", {"profiles": [_profile("gone")]})
        served.post("/v1/events", {"events": [
            {"user_id": "gone", "event": "signup", "event_id": "s", "timestamp": STAMP}]})
        wait_until(lambda: _sent(state, "gone") == [("hello", "transactional")])
        logged = [r for r in served.logs if r.get("message", "").startswith("user gone deleted")]
    assert left == dict.fromkeys(USER_TABLES, 0)
    assert len(logged) == 1 and logged[0]["deleted"]["profiles"] == 1
    assert logged[0]["deleted"]["suppressions"] == 1 and logged[0]["deleted"]["outbox"] == 1
