"""The JSON Schemas in schema/: valid draft 2020-12, current, and usable by editors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from channel_adapters import REGISTRY
from journeyctl import schemagen
from journeyctl.yamlload import load_file
from tests.support import EXAMPLE, REPO

SCHEMAS = sorted((REPO / "schema").glob("*.schema.json"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_patterns_are_portable_to_editors(path: Path) -> None:
    """Editors evaluate `pattern` as ECMA-262 regexes: no Python-only syntax."""
    for pattern in re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', path.read_text()):
        assert "(?i" not in pattern and "\\Z" not in pattern and "(?P" not in pattern, pattern


def test_channels_schema_is_generated_from_the_registry() -> None:
    on_disk = (REPO / "schema/channels.schema.json").read_text(encoding="utf-8")
    assert on_disk == schemagen.render(), "run: python -m journeyctl.schemagen"
    schema = json.loads(on_disk)
    assert schema["$defs"]["channel"]["properties"]["adapter"]["enum"] == sorted(REGISTRY)


def _editor_validator(schema_path: Path) -> Draft202012Validator:
    """What an editor does: load the schema file and resolve refs relative to it."""
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text()), DRAFT202012))
        for p in SCHEMAS
    )
    return Draft202012Validator(json.loads(schema_path.read_text()), registry=registry)


EXAMPLE_FILES = sorted(EXAMPLE.rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[str(p.relative_to(EXAMPLE))
                                                     for p in EXAMPLE_FILES])
def test_example_files_carry_a_working_modeline(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{path} has no yaml-language-server modeline"
    schema_path = (path.parent / match.group(1)).resolve()
    assert schema_path.is_file()
    errors = list(_editor_validator(schema_path).iter_errors(load_file(path).data))
    assert errors == []
