"""Checks a parsed file against its JSON Schema and turns jsonschema's errors into diagnostics.

The schemas in `schema/` are the same files editors use (yaml-language-server); here we add
what editors cannot: one located, plain-language message per mistake, with a hint.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from journeyctl.diagnostics import Diagnostic, diagnostic
from journeyctl.yamlload import Doc, DocPath

SCHEMA_FILES = ("common", "project", "journey", "events", "channels", "template", "test")

# Human names for the shared definitions, used when a value matches none of its alternatives.
_DEF_NAMES = {
    "duration": "a duration like 6h",
    "time_of_day": 'a time like "09:30"',
    "event_name": "an event name",
    "day": "a day name",
}
_PATTERN_MESSAGES = {
    "JC301": "{value} is not a duration",
    "JC302": "{value} is not a time of day",
    "JC303": "{value} is not a day name",
    "JC306": "{value} is not a rate limit",
}
_SECRET_PARTS = {"credentials"}  # never echo values found under these keys
_TYPE_NAMES = {
    "string": "text", "integer": "a whole number", "number": "a number", "boolean": "true/false",
    "object": "a mapping", "array": "a list", "null": "nothing",
}


def schema_dir() -> Path:
    """The schema folder: inside the installed package, or `schema/` in a source checkout."""
    packaged = Path(str(resources.files("journeyctl") / "schemas"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "schema"


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(name: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resources(
        (f"{n}.schema.json", Resource.from_contents(load_schema(n), DRAFT202012))
        for n in SCHEMA_FILES
    )
    schema = _inline(load_schema(name), name, registry, ())
    return Draft202012Validator(schema, registry=registry)


def _inline(node: Any, base: str, registry: Registry, active: tuple[str, ...]) -> Any:
    """The schema with each non-recursive `$ref` replaced by its target.

    Resolving references is most of jsonschema's work on our schemas; inlining them once makes
    validating a large project several times faster. Each inlined copy keeps its definition's
    name in `x-ref`, for messages."""
    if isinstance(node, list):
        return [_inline(item, base, registry, active) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target_file, _, pointer = ref.partition("#")
        uri = f"{target_file or base + '.schema.json'}#{pointer}"
        if uri not in active:
            file = target_file.removesuffix(".schema.json") if target_file else base
            resolved = registry.resolver(f"{file}.schema.json").lookup(uri).contents
            inlined = _inline(resolved, file, registry, (*active, uri))
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**inlined, **rest, "x-ref": pointer.rsplit("/", 1)[-1]}
    return {k: _inline(v, base, registry, active) for k, v in node.items()}


def check(doc: Doc, name: str) -> list[Diagnostic]:
    """Every schema violation in `doc` (checked against `schema/<name>.schema.json`)."""
    errors = list(_validator(name).iter_errors(doc.data))
    errors = _drop_shadowed(errors)
    found = {d for error in errors for d in _translate(doc, error)}
    return sorted(found, key=Diagnostic.sort_key)


def _drop_shadowed(errors: list[ValidationError]) -> list[ValidationError]:
    """When a discriminator (a channel's `adapter`) is wrong, its siblings' errors are noise."""
    parents = {tuple(e.absolute_path)[:-1] for e in errors if _is_discriminator(e)}
    return [
        e for e in errors
        if _is_discriminator(e) or not any(_starts_with(tuple(e.absolute_path), p) for p in parents)
    ]


def _is_discriminator(error: ValidationError) -> bool:
    return error.validator == "enum" and bool(error.absolute_path) and (
        error.absolute_path[-1] == "adapter"
    )


def _starts_with(path: DocPath, prefix: DocPath) -> bool:
    return path[: len(prefix)] == prefix


def _translate(doc: Doc, error: ValidationError) -> Iterator[Diagnostic]:
    path = tuple(error.absolute_path)
    handler = _HANDLERS.get(str(error.validator), _generic)
    for found in handler(doc, error, path):
        yield found if found.path else replace(found, path=path)


def _where(path: DocPath) -> str:
    """`steps[2].send.channel` style, for messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


def _show(value: Any, path: DocPath) -> str:
    if _SECRET_PARTS & {p for p in path if isinstance(p, str)}:
        return "the value"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _code(error: ValidationError, default: str) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return str(schema.get("x-code", default))


def _hint(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return schema.get("x-hint") or schema.get("description")


def _additional(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    allowed = _allowed_keys(error.schema, instance)
    for key in instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else _allowed_hint(allowed)
        where = f" in {_where(path)}" if path else ""
        yield diagnostic("JC101", f"unknown key '{key}'{where}", doc.loc((*path, key), key=True),
                         hint, (*path, key))


def _allowed_keys(schema: Any, instance: dict[str, Any]) -> list[str]:
    """Keys a mapping may have: `properties`, plus those of `allOf` branches that apply."""
    if not isinstance(schema, dict):
        return []
    keys = list(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {})
        if all(instance.get(k) == v.get("const") for k, v in condition.items()):
            keys += list(branch.get("then", {}).get("properties", {}))
    return keys


def _allowed_hint(allowed: Iterable[str]) -> str | None:
    names = sorted(allowed)
    return f"allowed keys: {', '.join(names)}" if names else None


def _keyword_value(error: ValidationError) -> Any:
    """The failing keyword's value in the schema (`required`'s list, `type`'s names). The
    stubs allow `Unset`, which only an error not made by a validator has."""
    return error.validator_value


def _required(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    for key in _keyword_value(error):
        if key not in instance:
            described = properties.get(key, {}).get("description")
            where = f" in {_where(path)}" if path else ""
            yield diagnostic("JC102", f"missing required key '{key}'{where}", doc.loc(path),
                             f"add `{key}:` ({described})" if described else f"add `{key}:`")


def _type(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    expected = _keyword_value(error)
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    code = _code(error, "JC103")
    if code in _PATTERN_MESSAGES:  # `within: 14` is better told as "not a duration"
        shown = _show(error.instance, path)
        message = f"{_where(path)}: " + _PATTERN_MESSAGES[code].format(value=shown)
    else:
        message = f"{_where(path)} must be {wanted}, not {_show(error.instance, path)}"
    yield diagnostic(code, message, doc.loc(path), _hint(error))


def _enum(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    options = (
        list(_keyword_value(error)) if error.validator == "enum" else [error.validator_value]
    )
    texts = [str(o) for o in options]
    close = difflib.get_close_matches(str(error.instance), texts, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(texts)}"
    message = f"{_where(path)}: {_show(error.instance, path)} is not allowed"
    yield diagnostic(_code(error, "JC104"), message, doc.loc(path), hint)


def _pattern(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    code = _code(error, "JC104")
    template = _PATTERN_MESSAGES.get(code, "{value} is not a valid value here")
    if code == "JC704":
        message = f"credential '{path[-1]}' must name an environment variable as env:NAME"
    else:
        message = f"{_where(path)}: " + template.format(value=_show(error.instance, path))
    yield diagnostic(code, message, doc.loc(path), _hint(error) if code == "JC104" else None)


def _alternatives(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    """oneOf/anyOf: report the errors of the alternative the value was closest to."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    options = _keyword_value(error)

    def wrong_type(errs: list[ValidationError]) -> bool:
        return any(e.validator in ("type", "const") and not e.relative_path for e in errs)

    plausible = {i: errs for i, errs in branches.items() if not wrong_type(errs)}
    if all(e.validator == "required" for errs in branches.values() for e in errs):
        needed = [k for errs in branches.values() for e in errs for k in _keyword_value(e)]
        message = f"{_where(path)} needs one of: {', '.join(needed)}"
        yield diagnostic("JC102", message, doc.loc(path))
    elif plausible:
        best = min(plausible.values(), key=len)
        for sub in best:
            yield from _translate(doc, sub)
    else:
        wanted = " or ".join(_describe(o) for o in options)
        message = f"{_where(path)} must be {wanted}, not {_show(error.instance, path)}"
        yield diagnostic("JC103", message, doc.loc(path))


def _describe(schema: dict[str, Any]) -> str:
    ref = schema.get("x-ref") or schema.get("$ref", "").rsplit("/", 1)[-1]
    if ref:
        return _DEF_NAMES.get(ref, ref.replace("_", " "))
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "value")
    return " or ".join(_TYPE_NAMES.get(k, k) for k in ([kind] if isinstance(kind, str) else kind))


def _generic(doc: Doc, error: ValidationError, path: DocPath) -> Iterator[Diagnostic]:
    limits = {
        "minimum": "must be at least {v}", "maximum": "must be at most {v}",
        "minItems": "needs at least {v} item(s)", "minLength": "must not be empty",
        "minProperties": "needs at least {v} entry", "uniqueItems": "has repeated items",
        "exclusiveMinimum": "must be more than {v}", "exclusiveMaximum": "must be less than {v}",
    }
    template = limits.get(str(error.validator))
    text = template.format(v=error.validator_value) if template else error.message
    yield diagnostic(_code(error, "JC104"), f"{_where(path)} {text}", doc.loc(path), _hint(error))


_HANDLERS = {
    "additionalProperties": _additional,
    "unevaluatedProperties": _additional,
    "required": _required,
    "type": _type,
    "enum": _enum,
    "const": _enum,
    "pattern": _pattern,
    "oneOf": _alternatives,
    "anyOf": _alternatives,
}
