"""The real `journeyctl serve`: `POST /v1/profiles` checks each profile against the catalog's
profile attributes like `simulate` checks a profile line (one shared check): a declared
attribute of the wrong type refuses that profile, nothing of it stored, the others upserted;
attributes the catalog does not declare are kept and counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.harness import Served, State, apply, project_copy

pytestmark = pytest.mark.e2e  # every test here starts a process

WRONG = "attribute 'consent.email' is text, the catalog says boolean"


def test_a_profile_of_the_wrong_type_is_refused_and_the_others_stored(tmp_path: Path,
                                                                      state: State,
                                                                      fake) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    with Served(project, state, fake.url) as served:
        answer = served.post("/v1/profiles", {"profiles": [
            {"user_id": "good", "email": "g@example.com", "consent": {"email": True},
             "referral": "friend"},
            {"user_id": "bad", "email": "b@example.com", "consent": {"email": "yes"}},
            {"user_id": "vip", "vip": True}]})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"upserted": 2, "rejected": [{"index": 1, "error": WRONG}]}
        assert served.get("/v1/users/bad").status_code == 404  # nothing of it was stored
        good = served.get("/v1/users/good").json()["profile"]
        assert good["consent"] == {"email": True} and good["referral"] == "friend"
        assert served.get("/v1/users/vip").json()["profile"]["vip"] is True

        # an update of the wrong type leaves the stored profile as it was
        refused = served.post("/v1/profiles", {"profiles": [
            {"user_id": "good", "email": "new@example.com", "consent": {"email": "no"}}]})
        assert refused.status_code == 400
        assert refused.json()["rejected"] == [{"index": 0, "error": WRONG}]
        assert served.get("/v1/users/good").json()["profile"]["email"] == "g@example.com"

        # an identify event merges into the profile: the profile types hold for it too
        identify = served.post("/v1/events", {
            "user_id": "good", "event": "identify", "timestamp": time.time(),
            "properties": {"consent": {"email": "yes"}}})
        assert identify.status_code == 400
        assert identify.json()["rejected"] == [{"index": 0, "error": f"profile {WRONG}"}]

        metrics = served.get("/metrics").text
        assert "journeyctl_profiles_upserted_total 2.0" in metrics
        assert "journeyctl_profiles_rejected_total 2.0" in metrics
        assert "journeyctl_profiles_undeclared_total 1.0" in metrics


def test_a_dotted_key_is_refused_as_simulate_rejects_it(tmp_path: Path, state: State,
                                                        fake) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    with Served(project, state, fake.url) as served:
        answer = served.post("/v1/profiles", {"profiles": [
            {"user_id": "dot", "email": "d@example.com", "consent.email": True}]})
        assert answer.status_code == 400, answer.text
        assert answer.json()["rejected"] == [{"index": 0, "error": (
            "attribute 'consent.email' is written as one key with a dot; write it nested: "
            '{"consent": {"email": true}}')}]
        assert served.get("/v1/users/dot").status_code == 404
