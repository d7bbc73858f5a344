"""The real `journeyctl serve` renders the snippets a journey version was applied with: it never
reads the project's files, so `apply` must have recorded them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from tests.support.harness import PATHS, Served, State, apply, project_copy, wait_until

pytestmark = pytest.mark.e2e  # every test here starts a process

FOOTER = "snippets/footer.liquid"


def test_the_daemon_sends_templates_with_their_applied_snippets(tmp_path: Path,
                                                                state: State) -> None:
    project = project_copy(tmp_path)
    (project / "snippets").mkdir()
    (project / FOOTER).write_text("-- ACME · {{ profile.email }}", encoding="utf-8")
    template = project / "templates" / "welcome_email.yaml"
    template.write_text(template.read_text(encoding="utf-8").replace(
        '감사합니다."', '감사합니다.\\n{% render \'footer\' %}"'), encoding="utf-8")
    apply(project, state)
    (project / FOOTER).write_text("-- changed on disk, not applied", encoding="utf-8")

    def event(user: str) -> dict:
        return {"event_id": f"s-{user}", "user_id": user, "event": "signup",
                "timestamp": time.time(), "properties": {}}

    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        served.post("/v1/profiles", {"profiles": [{"user_id": "u1", "email": "u1@example.com"}]})
        served.post("/v1/events", event("u1"))
        [sent] = wait_until(lambda: fake.received(PATHS["email"]), timeout=10)
        assert sent.json()["content"][0]["value"] == \
            "고객님, 가입해 주셔서 감사합니다.\n-- ACME · u1@example.com"
