"""The global control group (SPEC §10, issue 14): a stable hash of (salt, user) draws it; a
control user's promotional sends are suppressed `holdout` after consent and before quiet hours,
their transactional sends still go; the recorder counts control and treated users additively."""

from __future__ import annotations

import hashlib
from pathlib import Path
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl.diagnostics import Loc
from journeyctl.engine import effects as fx
from journeyctl.engine.split import holdout_bucket, in_holdout
from journeyctl.sim import holdout as ho
from journeyctl.sim.recorder import Recorder
from tests.support.scenarios import EVERYONE, Runner, build, sends, suppressions

USERS = [f"user-{i}" for i in range(20_000)]


def holdout(percent: float, salt: str = "2026") -> m.Holdout:
    return m.Holdout(Loc(""), percent=percent, salt=salt)


def control(percent: float, salt: str = "2026", users: list[str] = USERS) -> set[str]:
    return {u for u in users if in_holdout(holdout(percent, salt), u)}


def test_the_bucket_is_the_documented_hash_and_stable() -> None:
    digest = hashlib.sha256(b"holdout#2026:user-7").digest()
    assert holdout_bucket("2026", "user-7") == int.from_bytes(digest[:8], "big") % 10000
    assert control(5) == control(5)  # the same users every time
    assert control(5, "2027") != control(5)  # another salt draws another group
    assert abs(len(control(5)) / len(USERS) - 0.05) < 0.005
    assert not in_holdout(None, "user-7")


def test_raising_the_percent_keeps_every_control_user_in_control() -> None:
    five, ten = control(5), control(10)
    assert five < ten  # a strict subset: every 5% user stays, new ones join
    assert abs(len(ten) / len(USERS) - 0.10) < 0.01
    assert control(2.5) < five  # a fraction of a percent works the same way


PROMO_THEN_RECEIPT = """trigger: {event: signup}
steps:
  - {id: promo, send: {channel: email, template: e1, fallback: [{channel: sms, template: s1}]}}
  - {id: receipt, send: {channel: email, template: e2, category: transactional}}
"""
HALF = 'holdout: {percent: 50, salt: "s"}\n'


def pick(count: int, in_control: bool) -> list[str]:
    found = [u for u in USERS if in_holdout(holdout(50, "s"), u) == in_control]
    return found[:count]


def test_a_control_user_gets_transactional_messages_only(scenario: Runner) -> None:
    (ctl,), (treated,) = pick(1, True), pick(1, False)
    users = {ctl: EVERYONE, treated: EVERYONE}
    out = scenario({"j": PROMO_THEN_RECEIPT}, [("2024-03-04 09:00", u, "signup") for u in users],
                   profiles=users, settings=HALF, until="2024-03-05 00:00")
    assert sorted((s[1], s[2]) for s in sends(out)) == sorted(
        [(ctl, "receipt"), (treated, "promo"), (treated, "receipt")])
    # suppressed, not sent on a fallback either
    assert suppressions(out) == [("2024-03-04 09:00", ctl, "promo", "holdout")]


def test_consent_is_checked_before_the_holdout(scenario: Runner) -> None:
    ctl, unreachable = pick(2, True)
    users = {ctl: {**EVERYONE, "consent": {"email": False, "sms": False}},
             unreachable: {}}
    out = scenario({"j": PROMO_THEN_RECEIPT}, [("2024-03-04 09:00", u, "signup") for u in users],
                   profiles=users, settings=HALF, until="2024-03-05 00:00")
    assert sorted((s[1], s[3]) for s in suppressions(out)) == sorted(
        [(ctl, "no_consent"), (unreachable, "unreachable"), (unreachable, "unreachable")])


def test_the_holdout_is_checked_before_quiet_hours(scenario: Runner) -> None:
    (ctl,), (treated,) = pick(1, True), pick(1, False)
    users = {ctl: EVERYONE, treated: EVERYONE}
    settings = HALF + 'quiet_hours: {start: "21:00", end: "08:00", action: delay}\n'
    out = scenario({"j": PROMO_THEN_RECEIPT}, [("2024-03-04 23:00", u, "signup") for u in users],
                   profiles=users, settings=settings, until="2024-03-06 00:00")
    assert [h.user_id for h in out.of(fx.Held)] == [treated]  # control: never held
    assert suppressions(out) == [("2024-03-04 23:00", ctl, "promo", "holdout")]
    assert ("2024-03-04 23:00", ctl, "receipt", "email:e2") in sends(out)


def test_the_engine_marks_a_users_first_entry_into_any_journey(scenario: Runner) -> None:
    again = PROMO_THEN_RECEIPT.replace("steps:", "entry: {reentry: after_exit}\nsteps:")
    out = scenario({"a": again, "b": again}, [("2024-03-04 09:00", "u1", "signup"),
                                              ("2024-03-04 10:00", "u1", "signup")],
                   until="2024-03-05 00:00")
    assert [(e.journey, e.instance, e.first) for e in out.of(fx.Entered)] == [
        ("a", 1, True), ("b", 1, False), ("a", 2, False), ("b", 2, False)]


def recorder(project: m.Project) -> Recorder:
    return Recorder(project, [j.id for j in project.journeys], ZoneInfo("UTC"))


def test_the_recorder_counts_users_once_and_adds_up(tmp_path: Path) -> None:
    project = build(tmp_path / "p", {"a": PROMO_THEN_RECEIPT, "b": PROMO_THEN_RECEIPT}, HALF)
    (ctl,), (treated,) = pick(1, True), pick(1, False)
    effects: list[fx.Effect] = [
        fx.Entered(ctl, "a", 1, 0.0, 1, first=True), fx.Entered(ctl, "b", 1, 1.0, 1),
        fx.Entered(ctl, "a", 2, 2.0, 1),  # re-entry: no new user
        fx.Entered(treated, "b", 1, 0.0, 1, first=True),
        fx.Converted(ctl, "a", 1, 3.0, 10.0, (), ()),
        fx.Converted(treated, "b", 1, 3.0, 4.0, (), ()),
        fx.Converted(treated, "b", 1, 4.0, 2.0, (), ()),
    ]
    whole, left, right = recorder(project), recorder(project), recorder(project)
    for index, effect in enumerate(effects):
        whole.effect(effect)
        (left if index % 2 else right).effect(effect)
    left.merge(right)
    assert left.holdout == whole.holdout
    arms = whole.holdout
    assert arms[(ho.ALL, "control")] == ho.Arm(1, 1, 10.0, 100.0)
    assert arms[(ho.ALL, "treated")] == ho.Arm(1, 2, 6.0, 20.0)
    assert arms[("a", "control")].users == arms[("b", "control")].users == 1
    assert "holdout" in Recorder.COUNTERS
    whole.reset()
    assert not whole.holdout


def test_no_holdout_counts_nothing(tmp_path: Path) -> None:
    project = build(tmp_path / "p", {"a": PROMO_THEN_RECEIPT})
    rec = recorder(project)
    rec.effect(fx.Entered("u", "a", 1, 0.0, 1, first=True))
    assert not rec.holdout


def test_the_interval_is_the_normal_approximation() -> None:
    # control: 100 users, 10 conversions; treated: 400 users, 60 conversions (Poisson)
    out = ho.lift(100, 10, 10, 400, 60, 60)
    assert out["per_user"] == 0.05
    margin = 1.959964 * (60 / 400**2 + 10 / 100**2) ** 0.5
    assert out["per_user_ci95"] == [round(0.05 - margin, 4), round(0.05 + margin, 4)]
    assert out["total"] == 20.0 and out["relative"] == 0.5
    low, high = out["relative_ci95"]
    assert low < 0.5 < high
    assert ho.lift(0, 0, 0, 5, 1, 1)["per_user"] is None  # no control users: no lift
    assert ho.lift(5, 0, 0, 5, 1, 1)["relative"] is None  # nothing to compare to
