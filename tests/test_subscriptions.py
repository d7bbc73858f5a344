"""`subscriptions:` (SPEC §10): an `unsubscribe` event changes consent before any journey sees
it, in both hosts — so no journey, entered before it or after, sends that user a promotional
email; a `channel` property narrows the change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journeyctl.project import validate
from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from tests.support import run_cli
from tests.support.harness import MovableClock, apply, open_core, project_copy, rows

pytestmark = pytest.mark.e2e  # the daemon's half applies with the CLI

T0 = 1_780_000_000.0
SUBSCRIPTIONS = ("subscriptions:\n  unsubscribe: {consent.email: false, consent.sms: false, "
                 "consent.push: false}\n")
WINBACK = """journey: winback
trigger: {event: purchase}
steps:
  - id: later
    wait: 1s
  - id: offer
    send: {channel: email, template: reminder_email, category: promotional}
"""
PROFILES = [{"user_id": u, "email": f"{u}@example.com", "phone": "+821000000000",
             "consent": {"email": True, "sms": True, "push": True}} for u in "abc"]
# a: bought (winback entered) before unsubscribing; b: unsubscribed, then bought;
# c: unsubscribed from SMS only, then bought (email still allowed)
EVENTS = [(0.0, "a", "purchase", {"amount": 5.0}), (0.5, "a", "unsubscribe", {}),
          (0.0, "b", "unsubscribe", {}), (0.5, "b", "purchase", {"amount": 5.0}),
          (0.0, "c", "unsubscribe", {"channel": "sms"}), (0.5, "c", "purchase", {"amount": 5.0})]


def project(tmp_path: Path, subscribed: bool = True) -> Path:
    root = project_copy(tmp_path)
    (root / "journeys/winback.yaml").write_text(WINBACK, encoding="utf-8")
    events = root / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  unsubscribe: {}\n", "  unsubscribe:\n    properties:\n      channel: {type: string}\n"),
        encoding="utf-8")
    if subscribed:
        with (root / "journeyctl.yaml").open("a", encoding="utf-8") as file:
            file.write(SUBSCRIPTIONS)
    return root


def simulated_winback(root: Path, tmp_path: Path) -> list[str]:
    events, profiles = tmp_path / "events.jsonl", tmp_path / "profiles.jsonl"
    events.write_text("".join(json.dumps({"event_id": f"{u}{n}", "user_id": u, "event": name,
                                          "timestamp": T0 + at, "properties": props}) + "\n"
                              for n, (at, u, name, props) in enumerate(EVENTS)), encoding="utf-8")
    profiles.write_text("".join(json.dumps(p) + "\n" for p in PROFILES), encoding="utf-8")
    loaded = validate(root)
    assert loaded.project is not None
    result = simulate(loaded.project, [events], profiles, Options(until=T0 + 60))
    assert result.messages is not None
    sent = sorted(e.user_id for e in result.messages.ordered() if e.journey == "winback")
    result.messages.close()
    assert result.report["journeys"]["winback"]["steps"]["offer"]["reached"] == 3
    return sent


def daemon_winback(root: Path, tmp_path: Path) -> list[str]:
    state = tmp_path / "state.db"
    apply(root, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([dict(p) for p in PROFILES])
    for n, (at, user, name, props) in sorted(enumerate(EVENTS), key=lambda e: e[1][0]):
        clock.now = T0 + at
        core.ingest([[{"event_id": f"{user}{n}", "user_id": user, "event": name,
                       "time": clock.now, "properties": props}]])
        while core.process(budget=60):
            pass
    clock.now = T0 + 60
    while core.process(budget=60):
        pass
    core.close()
    return sorted(r[0] for r in rows(state, "SELECT user_id FROM outbox WHERE journey = "
                                            "'winback'"))


def test_no_journey_mails_a_user_after_they_unsubscribed_in_either_host(tmp_path: Path
                                                                          ) -> None:
    root = project(tmp_path)
    assert simulated_winback(root, tmp_path) == ["c"]  # c left SMS only
    assert daemon_winback(root, tmp_path) == ["c"]


def test_without_subscriptions_the_next_journey_mails_them_again(tmp_path: Path) -> None:
    root = project(tmp_path, subscribed=False)
    assert simulated_winback(root, tmp_path) == ["a", "b", "c"]


def test_a_subscription_of_an_unknown_event_or_attribute_is_a_located_error(
        tmp_path: Path) -> None:
    root = project(tmp_path, subscribed=False)
    settings = root / "journeyctl.yaml"
    original = settings.read_text(encoding="utf-8")
    settings.write_text(original + "subscriptions:\n  unsubscrbe: {consent.email: false}\n",
                        encoding="utf-8")
    done = run_cli("validate", root)
    assert done.returncode == 1
    assert "journeyctl.yaml:10:3: error[JC501]: subscriptions names unknown event " \
        "'unsubscrbe'" in done.stdout
    assert "did you mean 'unsubscribe'" in done.stdout
    settings.write_text(original + "subscriptions:\n  purchase: {vip: true}\n", encoding="utf-8")
    done = run_cli("validate", root)
    assert done.returncode == 1
    assert "journeyctl.yaml:10:13: error[JC104]" in done.stdout
    assert "hint: write consent.<channel>, e.g. consent.email" in done.stdout
