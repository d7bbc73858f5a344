"""Rendering diagnostics: text for people, JSON for tools, annotations for GitHub Actions.

This is the one place diagnostics become output. User text (messages quote YAML values such as
`[광고]`) is never interpreted as rich markup.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from journeyctl.diagnostics import SECRET_CODES, UNREAD_CODES, Diagnostic, Severity
from journeyctl.yamlload import Doc

SCHEMA_VERSION = 1
REDACTED = "<redacted>"


def summary_counts(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    return errors, len(diagnostics) - errors


def to_json(diagnostics: Sequence[Diagnostic], extra: Mapping[str, Any] | None = None) -> str:
    errors, warnings = summary_counts(diagnostics)
    payload = {
        "schema_version": SCHEMA_VERSION,
        "valid": errors == 0,
        "errors": errors,
        "warnings": warnings,
        **(extra or {}),
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as the JSON reports write it."""
    return {
        "code": d.code, "severity": str(d.severity), "message": d.message,
        "file": d.loc.file, "line": d.loc.line or None, "column": d.loc.col or None,
        "hint": d.hint,
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: one annotation per diagnostic."""
    lines = []
    for d in diagnostics:
        level = "error" if d.is_error else "warning"
        where = [f"file={_escape_property(d.loc.file)}", f"line={d.loc.line}",
                 f"col={d.loc.col}"] if d.loc.line else []  # an option is no place in a file
        props = ",".join([*where, f"title={_escape_property(d.code)}"])
        body = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        lines.append(f"::{level} {props}::{_escape_data(body)}")
    return "\n".join(lines)


class SourceLines:
    """Source lines for carets: from the parsed documents, else read from disk once."""

    def __init__(self, docs: Mapping[str, Doc]) -> None:
        self._docs = docs
        self._cache: dict[str, list[str]] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self._cache:
            doc = self._docs.get(file)
            text = doc.text if doc else _read(file)
            self._cache[file] = text.splitlines() if text is not None else []
        lines = self._cache[file]
        return lines[number - 1] if 0 < number <= len(lines) else None


def _read(file: str) -> str | None:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def plain_text(diagnostics: Sequence[Diagnostic], docs: Mapping[str, Doc]) -> str:
    """What `print_text` prints, without colour whatever the environment asks: for reports
    that carry diagnostics (a JUnit error's text)."""
    buffer = io.StringIO()
    print_text(diagnostics, docs, buffer, colour=False)
    return buffer.getvalue().rstrip()


def print_text(diagnostics: Sequence[Diagnostic], docs: Mapping[str, Doc], stream: IO[str],
               summary: str | None = None, colour: bool = True) -> None:
    """`file:line:col: error[JCnnn]: message`, the source line with a caret, and the hint."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True,
                      color_system="auto" if colour else None)
    sources = SourceLines(docs)
    for d in diagnostics:
        style = "bold red" if d.is_error else "bold yellow"
        console.print(Text.assemble(
            (f"{d.loc}: ", "bold"), (f"{d.severity}[{d.code}]", style), (f": {d.message}", "bold")
        ))
        source = None if d.code in UNREAD_CODES else sources.line(d.loc.file, d.loc.line)
        length = d.loc.length
        if source is not None and d.code in SECRET_CODES:
            start = d.loc.col - 1
            source = source[:start] + REDACTED + source[start + d.loc.length:]
            length = len(REDACTED)
        if source is not None:
            gutter = " " * len(str(d.loc.line))
            console.print(Text.assemble((f" {d.loc.line} | ", "blue"), source.rstrip()))
            caret = " " * _width(source[: d.loc.col - 1]) + "^" * _caret(source, d.loc.col,
                                                                            length)
            console.print(Text.assemble((f" {gutter} | ", "blue"), (caret, style)))
        if d.hint:
            console.print(Text.assemble(("  = hint: ", "cyan"), d.hint))
        console.print()
    if summary:
        errors, _ = summary_counts(diagnostics)
        console.print(Text(summary, style="bold red" if errors else "bold green"))


def _width(text: str) -> int:
    """Terminal width of `text`: Hangul and other wide characters take two columns."""
    from rich.cells import cell_len

    return cell_len(text.replace("\t", " "))


def _caret(source: str, col: int, length: int) -> int:
    token = source[col - 1: col - 1 + max(length, 1)]
    return max(_width(token), 1)
