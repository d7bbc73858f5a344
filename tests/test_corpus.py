"""The bad-input corpus: broken projects, one defect each, and the exact diagnostic each gives.

Every case starts from a freshly scaffolded (valid) project, applies one edit, and asserts the
error code, file and line — and that no other error is reported (no cascades of noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from journeyctl.project import validate

J = "journeys/welcome.yaml"
T = "templates/nudge_email.yaml"

SMS_CHANNEL = """
  sms:
    adapter: twilio
    credentials: {account_sid: env:TWILIO_SID, auth_token: env:TWILIO_TOKEN}
    from: "+15005550006"
    address: phone
    consent: consent.sms
"""
J_STEPS = """steps:
  - id: send_welcome
    send: {channel: email, template: welcome_email, category: transactional}
  - id: wait_for_purchase
    wait_for: {event: purchase, timeout: 3d, on_timeout: send_nudge}
    next: exit
  - id: send_nudge
    send: {channel: email, template: nudge_email}
"""
EXTRA_STEPS = "    send: {channel: email, template: nudge_email}\n"


@dataclass(frozen=True)
class Edit:
    file: str
    old: str | None = None  # None: write `new` as the whole file
    new: str | bytes | None = None  # None with old=None: delete the file


@dataclass(frozen=True)
class Case:
    name: str
    edits: tuple[Edit, ...]
    code: str
    file: str
    line: int
    also: frozenset[str] = field(default_factory=frozenset)  # other error codes that may appear


def replace(file: str, old: str, new: str) -> Edit:
    return Edit(file, old, new)


def append_steps(text: str) -> Edit:
    return replace(J, EXTRA_STEPS, EXTRA_STEPS + text)


def sms_channel() -> tuple[Edit, ...]:
    """An SMS channel, with the profile attributes it reads."""
    return (
        replace("channels.yaml", "channels:\n", "channels:" + SMS_CHANNEL),
        replace("events.yaml", "  email: string\n", "  email: string\n  phone: string\n"),
        replace("events.yaml", "      email: boolean", "      email: boolean\n      sms: boolean"),
    )


def kr_promotional_sms(text: str) -> tuple[Edit, ...]:
    """The `kr` pack on, and a promotional SMS saying `text` (the email is made compliant)."""
    return (
        replace("journeyctl.yaml", "state:", "compliance: [kr]\nstate:"),
        *sms_channel(),
        Edit("templates/promo_sms.yaml", None, f"channel: sms\ntext: '{text}'\n"),
        replace(J, EXTRA_STEPS, "    send: {channel: sms, template: promo_sms}\n"),
        replace(T, "Anything", "(광고) Anything"),
    )


CASES = [
    # --- files and YAML ------------------------------------------------------------------
    Case("not_utf8", (Edit(J, None, "journey: welcome\nname: caf\xe9\n".encode("latin-1")),),
         "JC002", J, 2),
    Case("tab_indentation", (replace(J, "  event: signup", "\tevent: signup"),), "JC003", J, 6),
    Case("yaml_syntax", (replace(J, "name: Welcome new users", "name: [unclosed"),),
         "JC003", J, 4),
    Case("duplicate_key", (replace(J, "status: active\n", "status: active\nstatus: paused\n"),),
         "JC004", J, 5),
    Case("alias_bomb", (Edit("journeys/bomb.yaml", None, "a: &a [x, x, x, x, x, x, x, x, x]\n" +
                             "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
                                     for p, c in zip("abcdefg", "bcdefgh", strict=True))),),
         "JC005", "journeys/bomb.yaml", 6),
    Case("nesting_too_deep", (Edit("journeys/deep.yaml", None, "a: " + "[" * 80 + "]" * 80),),
         "JC005", "journeys/deep.yaml", 1),
    Case("recursive_alias", (Edit("journeys/loop.yaml", None, "a: &r\n  - *r\n"),),
         "JC005", "journeys/loop.yaml", 2),
    Case("two_documents", (Edit("journeys/two.yaml", None, "journey: a\n---\njourney: b\n"),),
         "JC006", "journeys/two.yaml", 2),
    Case("custom_tag", (replace(J, "status: active", "status: !flag active"),), "JC006", J, 4),
    Case("empty_file", (Edit("journeys/empty.yaml", None, "# nothing yet\n"),),
         "JC103", "journeys/empty.yaml", 1),
    # --- structure -----------------------------------------------------------------------
    Case("unknown_project_key", (replace("journeyctl.yaml", "timezone:", "timezon:"),),
         "JC101", "journeyctl.yaml", 3),
    Case("unknown_step_key", (replace(J, "template: nudge_email", "tempalte: nudge_email"),),
         "JC101", J, 20, frozenset({"JC102"})),
    Case("missing_timeout", (replace(J, "timeout: 3d, ", ""),), "JC102", J, 17),
    Case("duration_as_number", (replace(J, "within: 14d", "within: 14"),), "JC301", J, 9),
    Case("wrong_type", (replace(J, "value: event.amount\n", "value: event.amount\n  exit: maybe\n"),),
         "JC103", J, 11),
    Case("bad_status", (replace(J, "status: active", "status: actve"),), "JC104", J, 4),
    Case("bad_journey_id", (replace(J, "journey: welcome", "journey: Welcome"),), "JC104", J, 2),
    Case("step_id_exit", (replace(J, "id: send_nudge", "id: exit"),), "JC104", J, 19,
         frozenset({"JC203"})),
    Case("no_steps", (replace(J, J_STEPS, "steps: []\n"),), "JC207", J, 13),
    Case("step_without_kind", (replace(J, EXTRA_STEPS, "    description: nothing\n"),),
         "JC105", J, 19),
    Case("step_with_two_kinds", (replace(J, "category: transactional}\n",
                                         "category: transactional}\n    wait: 1h\n"),),
         "JC105", J, 14),
    Case("trigger_two_forms", (replace(J, "  event: signup\n", "  event: signup\n  inactive: 30d\n"),),
         "JC105", J, 6),
    # --- ids and the step graph ------------------------------------------------------------
    Case("duplicate_journey_id", (Edit("journeys/zz-copy.yaml", None,
                                       "journey: welcome\ntrigger: {event: signup}\nsteps:\n"
                                       "  - {id: a, wait: 1h}\n"),),
         "JC201", "journeys/zz-copy.yaml", 1),
    Case("duplicate_step_id", (append_steps("  - id: send_welcome\n    wait: 1h\n"),),
         "JC202", J, 21),
    Case("unknown_next", (replace(J, "next: exit", "next: exitt"),), "JC203", J, 18),
    Case("unknown_on_timeout", (replace(J, "on_timeout: send_nudge", "on_timeout: send_nuge"),),
         "JC203", J, 17),
    Case("cycle_without_wait", (append_steps("  - id: again\n    loop: {to: send_nudge, times: 3}\n"),),
         "JC205", J, 21),
    Case("loop_goes_forward", (append_steps("  - id: jump\n    loop: {to: tail, times: 2}\n"
                                            "  - id: tail\n    wait: 1h\n"),),
         "JC206", J, 22, frozenset({"JC205"})),
    Case("migrate_unknown_step", (replace(J, "exit_on:", "migrate: {old_step: gone}\nexit_on:"),),
         "JC208", J, 11),
    Case("split_sum", (append_steps("  - id: ab\n    split:\n      - {variant: a, weight: 50}\n"
                                    "      - {variant: b, weight: 40}\n"),), "JC210", J, 23),
    Case("split_weight_fraction", (append_steps(
        "  - id: ab\n    split:\n      - {variant: a, weight: 50.5}\n"
        "      - {variant: b, weight: 49.5}\n"),), "JC211", J, 23),
    Case("split_duplicate_variant", (append_steps(
        "  - id: ab\n    split:\n      - {variant: a, weight: 50}\n"
        "      - {variant: a, weight: 50}\n"),), "JC212", J, 24),
    Case("else_not_last", (append_steps(
        "  - id: choose\n    branch:\n      - {else: send_nudge}\n"
        "      - {if: 'has(profile.name)', next: exit}\n"),), "JC213", J, 23),
    Case("next_on_split", (append_steps(
        "  - id: ab\n    next: exit\n    split:\n      - {variant: a, weight: 50}\n"
        "      - {variant: b, weight: 50}\n"),), "JC214", J, 22),
    # --- values ------------------------------------------------------------------------------
    Case("bad_duration", (replace(J, "timeout: 3d", "timeout: 3days"),), "JC301", J, 17),
    Case("zero_duration", (append_steps("  - id: nap\n    wait: 0s\n"),), "JC301", J, 22),
    Case("bad_time_of_day", (replace("journeyctl.yaml", '"21:00"', '"25:00"'),),
         "JC302", "journeyctl.yaml", 12),
    Case("bad_day", (append_steps("  - id: later\n    wait: {until: '10:00', days: [funday]}\n"),),
         "JC303", J, 22),
    Case("bad_cron", (replace(J, "  event: signup\n", "  schedule: '61 * * * *'\n"),),
         "JC304", J, 6),
    Case("bad_time_zone", (replace("journeyctl.yaml", "timezone: UTC", "timezone: Asia/Seol"),),
         "JC305", "journeyctl.yaml", 3),
    Case("bad_rate_limit", (replace("channels.yaml", "rate_limit: 100/s", "rate_limit: 100/x"),),
         "JC306", "channels.yaml", 12),
    Case("bad_reentry", (replace(J, "status: active\n", "status: active\nentry: {reentry: often}\n"),),
         "JC307", J, 5),
    # --- CEL -----------------------------------------------------------------------------------
    Case("cel_syntax", (replace(J, "value: event.amount", "value: event.amount +"),),
         "JC401", J, 10),
    Case("cel_unknown_variable", (replace(J, "value: event.amount", "value: evnt.amount"),),
         "JC402", J, 10),
    Case("cel_no_event_in_audience", (
        replace(J, "  event: signup\n", "  schedule: '0 10 * * MON'\n"),
        replace(J, "status: active\n", "status: active\naudience: 'event.plan == \"pro\"'\n"),
    ), "JC402", J, 5),
    Case("cel_unknown_event_property", (replace(J, "value: event.amount", "value: event.amout"),),
         "JC403", J, 10),
    Case("cel_unknown_profile_attribute", (replace(J, "status: active\n",
                                                   "status: active\naudience: 'profile.age > 20'\n"),),
         "JC404", J, 5),
    Case("update_unknown_attribute", (append_steps("  - id: tag\n    update: {set: {tier: '\"gold\"'}}\n"),),
         "JC404", J, 22),
    Case("count_bad_window", (replace(J, "status: active\n", "status: active\naudience: "
                                      "'count(\"purchase\", duration(\"7d\")) > 1'\n"),),
         "JC405", J, 5),
    Case("cel_unknown_function", (replace(J, "status: active\n",
                                          "status: active\naudience: 'sizee(profile.name) > 1'\n"),),
         "JC406", J, 5),
    Case("cel_unknown_journey_field", (replace(J, "status: active\n",
                                               "status: active\naudience: 'journey.idd == \"x\"'\n"),),
         "JC407", J, 5),
    Case("cel_too_costly", (replace(J, "status: active\n", "status: active\naudience: "
                                    "'lists.range(10000).map(x, x * 2).size() > 0'\n"),),
         "JC408", J, 5),
    # --- events ----------------------------------------------------------------------------
    Case("unknown_trigger_event", (replace(J, "event: signup", "event: sign_up"),), "JC501", J, 6),
    Case("count_unknown_event", (replace(J, "status: active\n", "status: active\naudience: "
                                         "'count(\"login\", duration(\"24h\")) > 1'\n"),),
         "JC501", J, 5),
    Case("fields_on_non_object", (replace("events.yaml", "  name: string\n",
                                          "  name:\n    type: string\n    properties: {a: string}\n"),),
         "JC502", "events.yaml", 15),
    # --- templates --------------------------------------------------------------------------
    Case("template_not_found", (replace(J, "template: nudge_email", "template: nudge_emal"),),
         "JC601", J, 20),
    Case("liquid_syntax", (replace(T, "your account", "{% if profile.name %}your account"),),
         "JC602", T, 6),
    Case("template_for_other_channel", (*sms_channel(), replace(T, "channel: email", "channel: sms")),
         "JC603", J, 20, frozenset({"JC606"})),
    Case("template_unknown_variable", (replace(T, "profile.name", "profile.nmae"),),
         "JC604", T, 5),
    Case("template_missing_field", (replace(T, 'subject: "Anything we can help with?"\n', ""),),
         "JC605", T, 2),
    Case("template_unknown_field", (replace(T, "text: |", "body: hello\ntext: |"),),
         "JC606", T, 4),
    Case("liquid_unknown_filter", (replace(T, "default: 'there'", "defualt: 'there'"),),
         "JC607", T, 5),
    # --- channels ---------------------------------------------------------------------------
    Case("unknown_channel", (replace(J, "send: {channel: email, template: nudge_email}",
                                     "send: {channel: emial, template: nudge_email}"),),
         "JC701", J, 20, frozenset({"JC603"})),
    Case("unknown_adapter", (replace("channels.yaml", "adapter: sendgrid", "adapter: sendgird"),),
         "JC702", "channels.yaml", 4),
    Case("credential_inline", (replace("channels.yaml", "env:SENDGRID_API_KEY",
                                       "SG.abc123secret"),), "JC704", "channels.yaml", 6),
    Case("address_not_in_catalog", (replace("channels.yaml", "address: email", "address: mail"),),
         "JC705", "channels.yaml", 8),
    Case("adapter_setting_missing", (replace("channels.yaml",
                                             "    from: {email: hello@example.com, name: Example}\n",
                                             ""),), "JC102", "channels.yaml", 4),
    # --- policy and compliance ----------------------------------------------------------------
    Case("cap_unknown_channel", (replace("journeyctl.yaml", "channel: any", "channel: sms"),),
         "JC801", "journeyctl.yaml", 11),
    Case("unknown_compliance_pack", (replace("journeyctl.yaml", "state:", "compliance: [kp]\nstate:"),),
         "JC803", "journeyctl.yaml", 9),
    Case("kr_sms_without_ad_prefix", kr_promotional_sms("ACME 봄 세일! 무료수신거부 080-000-0000"),
         "JC810", "templates/promo_sms.yaml", 2),
    Case("kr_sms_without_opt_out", kr_promotional_sms("(광고) ACME 봄 세일!"),
         "JC811", "templates/promo_sms.yaml", 2),
    Case("missing_events_file", (replace("journeyctl.yaml", "events: events.yaml",
                                         "events: catalog.yaml"),), "JC902", "journeyctl.yaml", 5),
]

WARNING_CASES = [
    Case("unreachable_step", (append_steps("    next: exit\n  - id: orphan\n    wait: 1h\n"),),
         "JC204", J, 22),
    Case("unused_template", (Edit("templates/unused.yaml", None,
                                  "channel: email\nsubject: hi\ntext: hello\n"),),
         "JC608", "templates/unused.yaml", 1),
    Case("worst_case_over_cap", (replace("journeyctl.yaml", "max: 3", "max: 1"),
                                 append_steps("  - id: second_nudge\n" + EXTRA_STEPS)),
         "JC820", J, 2),
    Case("no_journeys", (Edit(J),), "JC901", "journeyctl.yaml", 4),
    Case("kr_email_subject", (replace("journeyctl.yaml", "state:", "compliance: [kr]\nstate:"),),
         "JC812", T, 3),
]


def apply(root: Path, edits: tuple[Edit, ...]) -> None:
    for edit in edits:
        path = root / edit.file
        if edit.old is None and edit.new is None:
            path.unlink()
        elif edit.old is None:
            data = edit.new.encode() if isinstance(edit.new, str) else edit.new
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)  # type: ignore[arg-type]
        else:
            text = path.read_text(encoding="utf-8")
            assert edit.old in text, f"{edit.file} does not contain {edit.old!r}"
            path.write_text(text.replace(edit.old, str(edit.new), 1), encoding="utf-8")


def _diagnostics(root: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.chdir(root)
    return validate(Path(".")).diagnostics


def test_corpus_is_large_enough() -> None:
    assert len(CASES) + len(WARNING_CASES) >= 30
    assert len({c.name for c in CASES + WARNING_CASES}) == len(CASES) + len(WARNING_CASES)


def test_base_project_is_clean(new_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _diagnostics(new_project, monkeypatch) == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_error_case(case: Case, new_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apply(new_project, case.edits)
    found = _diagnostics(new_project, monkeypatch)
    errors = [d for d in found if d.is_error]
    located = [(d.code, d.loc.file, d.loc.line) for d in errors]
    assert (case.code, case.file, case.line) in located, found
    assert {d.code for d in errors} <= {case.code, *case.also}, found
    assert all(d.message and d.loc.col >= 1 for d in found)


@pytest.mark.parametrize("case", WARNING_CASES, ids=[c.name for c in WARNING_CASES])
def test_warning_case(case: Case, new_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apply(new_project, case.edits)
    found = _diagnostics(new_project, monkeypatch)
    assert not [d for d in found if d.is_error], found
    located = [(d.code, d.loc.file, d.loc.line) for d in found]
    assert (case.code, case.file, case.line) in located, found
