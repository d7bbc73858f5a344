"""Property tests: whatever YAML a user writes, journeyctl answers with diagnostics, never with
an exception of another type (no traceback ever reaches a user)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyctl.diagnostics import JourneyctlError
from journeyctl.project import validate
from journeyctl.scaffold import scaffold
from journeyctl.yamlload import parse

# Words from the language, so generated documents get past the first schema check often.
WORDS = [
    "journey", "trigger", "steps", "id", "next", "send", "wait", "wait_for", "branch", "split",
    "update", "loop", "exit", "event", "where", "timeout", "on_timeout", "lookback", "channel",
    "template", "fallback", "variant", "weight", "if", "else", "set", "to", "times", "goal",
    "within", "value", "audience", "entry", "reentry", "caps", "max", "per", "status", "until",
    "days", "inactive", "schedule", "events", "email", "signup", "purchase", "welcome",
    "send_nudge", "nudge_email", "exit_on", "migrate", "category", "promotional", "subject",
    "text", "profile", "properties", "type", "adapter", "credentials", "quiet_hours", "start",
]
VALUES = [
    "1h", "3d", "0s", "10:00", "mon", "exit", "signup", "purchase", "email", "nudge_email",
    "event.amount > 1", "profile.name", "count(\"purchase\", duration(\"24h\")) > 1", "(",
    "{{ profile.name }}", "{% if x %}", "env:KEY", "sendgrid", "0 10 * * MON", "61 * * * *",
    "Asia/Seoul", "after_exit", "never", "entry", "string", "object", "(광고) 세일",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=False, width=32),
    st.sampled_from(VALUES), st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=8))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=6)),
    max_leaves=40,
)
documents = st.dictionaries(keys, trees, min_size=1, max_size=8)

TARGETS = ["journeys/welcome.yaml", "journeyctl.yaml", "events.yaml", "channels.yaml",
           "templates/nudge_email.yaml"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prop") / "proj"
    scaffold(root, "proj")
    return root


def _validate_with(root: Path, target: str, doc: object) -> None:
    """Validate the project with `doc` as the file `target`: only located diagnostics, never
    another exception. The file is restored afterwards."""
    path = root / target
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        try:
            loaded = validate(root)
        except JourneyctlError:
            return
        for d in loaded.diagnostics:
            assert d.code.startswith("JC") and d.message and d.loc.line >= 1
    finally:
        path.write_text(original, encoding="utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"#\n\t%@`,?~1.\\")),
                    max_size=60))
def test_parse_never_raises_foreign_errors(text: str) -> None:
    try:
        parse(text, "f.yaml")
    except JourneyctlError as exc:
        assert exc.diagnostics and exc.diagnostics[0].loc.line >= 1


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=documents, target=st.sampled_from(TARGETS))
def test_any_document_in_any_file_gives_diagnostics(project: Path, doc: dict, target: str
                                                    ) -> None:
    _validate_with(project, target, doc)


refs = st.sampled_from(["s0", "s1", "s2", "s3", "s4", "exit", "nowhere"])
durations = st.sampled_from(["1h", "30m", "3d", "0s", "2w", "1d12h", "soon"])
cel = st.sampled_from(["true", "event.amount > 1", "has(profile.name)", "profile.nope",
                       'count("purchase", duration("24h")) > 1', "event.", "1 +", "now"])
STEP_BODIES = {
    "wait": st.one_of(durations, st.fixed_dictionaries(
        {"until": st.sampled_from(["10:00", "23:59", "7:5"])},
        optional={"days": st.lists(st.sampled_from(["mon", "sun", "xyz"]), max_size=3)})),
    "wait_for": st.fixed_dictionaries(
        {"event": st.sampled_from(["purchase", "signup", "nope"]), "timeout": durations},
        optional={"on_timeout": refs, "where": cel,
                  "lookback": st.one_of(durations, st.just("entry"))}),
    "send": st.fixed_dictionaries(
        {"channel": st.sampled_from(["email", "sms"]),
         "template": st.sampled_from(["nudge_email", "welcome_email", "none"])},
        optional={"category": st.sampled_from(["promotional", "transactional"]),
                  "fallback": st.lists(st.fixed_dictionaries(
                      {"channel": st.just("email"), "template": st.just("nudge_email")}),
                      max_size=2)}),
    "branch": st.lists(st.one_of(st.fixed_dictionaries({"if": cel, "next": refs}),
                                 st.fixed_dictionaries({"else": refs})), min_size=1, max_size=3),
    "split": st.lists(st.fixed_dictionaries(
        {"variant": st.sampled_from(["a", "b", "c"]), "weight": st.integers(0, 100)},
        optional={"next": refs}), min_size=2, max_size=3),
    "update": st.fixed_dictionaries({"set": st.dictionaries(
        st.sampled_from(["name", "nope", "consent.email"]),
        st.one_of(cel, st.booleans(), st.integers()), min_size=1, max_size=2)}),
    "loop": st.fixed_dictionaries({"to": refs, "times": st.integers(0, 4)}),
    "exit": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"reason": st.text()})),
}
steps_strategy = st.lists(
    st.sampled_from(sorted(STEP_BODIES)).flatmap(
        lambda kind: st.fixed_dictionaries({kind: STEP_BODIES[kind]},
                                           optional={"next": refs})),
    min_size=1, max_size=5,
)
triggers = st.one_of(
    st.fixed_dictionaries({"event": st.sampled_from(["signup", "purchase", "nope"])},
                          optional={"where": cel}),
    st.fixed_dictionaries({"inactive": durations},
                          optional={"events": st.just(["purchase"])}),
    st.fixed_dictionaries({"schedule": st.sampled_from(["0 10 * * MON", "@daily", "x"])}),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=steps_strategy, trigger=triggers, audience=st.one_of(st.none(), cel))
def test_journey_shaped_documents(project: Path, steps: list, trigger: dict,
                                  audience: str | None) -> None:
    """Documents close to valid journeys, so the builder and every check see odd graphs."""
    doc = {"journey": "welcome", "trigger": trigger,
           "steps": [{"id": f"s{i}", **s} for i, s in enumerate(steps)]}
    if audience:
        doc["audience"] = audience
    _validate_with(project, "journeys/welcome.yaml", doc)
