"""Docs stay true: every diagnostic code is documented and exercised, every command documented,
and the README's quickstart is what CI runs."""

from __future__ import annotations

import re

from journeyctl.cli import app
from journeyctl.diagnostics import CODES
from tests.support import REPO

ERRORS_DOC = (REPO / "docs/errors.md").read_text(encoding="utf-8")


def test_every_code_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| (JC\d{3}) \|", ERRORS_DOC, re.M))
    assert documented == set(CODES)


def test_documented_severity_matches() -> None:
    for code, severity in re.findall(r"^\| (JC\d{3}) \| (\w+) \|", ERRORS_DOC, re.M):
        assert CODES[code].severity.value == severity, code


def test_every_code_is_exercised_by_a_test() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py")
                    if p.name != "test_docs.py")
    missing = [code for code in CODES if not re.search(rf"\b{code}\b", tests)]
    assert missing == []


def test_every_command_is_documented() -> None:
    cli_doc = (REPO / "docs/cli.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"## `journeyctl {name}" in cli_doc, name
        assert f"journeyctl {name}" in readme, name
        assert command.callback.__doc__, name


def test_readme_quickstart_is_what_ci_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None
    first, second = (line.split("#")[0].strip() for line in block.group(1).splitlines()[:2])
    assert first == ("pip install . && journeyctl simulate journeys/ --events "
                     "journeys/data/events.jsonl --profiles journeys/data/profiles.jsonl")
    assert second == "pip install '.[test]' && python -m pytest"
    ci = (REPO / ".ci/run").read_text(encoding="utf-8")
    assert second in ci.splitlines()
    assert "ruff check ." in ci.splitlines()
    # ... after installing exactly the locked versions, so a release cannot turn CI red
    assert "uv sync --active --locked" in ci
    assert ci.index("uv sync --active --locked") < ci.index(second)
    assert (REPO / "uv.lock").is_file()
