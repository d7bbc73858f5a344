"""YAML -> plain data plus a line/column for every node.

We build the tree ourselves from libyaml's event stream instead of using PyYAML's composer:
the C composer recurses and crashes the interpreter on deeply nested input, and building from
events lets us reject duplicate keys, bound alias expansion ("billion laughs") and resolve
scalars with the YAML 1.2 core schema (so `21:00` stays a string and `no` stays `"no"`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import yaml

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Bounds on what a single file may expand to. A journey file has a few hundred nodes; these
# limits are far above any real file and far below what hurts.
MAX_NODES = 200_000
MAX_DEPTH = 64
_LIBYAML_DEPTH = "exceeded maximum nesting depth"

DocPath = tuple[str | int, ...]


class Mark(NamedTuple):
    line: int  # 0-based, as libyaml reports
    col: int
    end_line: int
    end_col: int
    style: str | None  # scalar style: None (plain), "'", '"', "|", ">"


@dataclass(frozen=True)
class Doc:
    """One parsed YAML file: its data, and where each value and key came from."""

    file: str
    text: str
    data: Any
    marks: Mapping[DocPath, Mark]
    key_marks: Mapping[DocPath, Mark]

    def mark(self, path: DocPath) -> Mark:
        """The mark of the value at `path`, or of its nearest ancestor that has one."""
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, Mark(0, 0, 0, 0, None))

    def loc(self, path: DocPath = (), *, key: bool = False) -> Loc:
        mark = self.key_marks.get(path) if key else None
        mark = mark or self.mark(path)
        length = mark.end_col - mark.col if mark.end_line == mark.line else 1
        return Loc(self.file, mark.line + 1, mark.col + 1, max(length, 1))

    def loc_in_scalar(self, path: DocPath, offset: int, length: int = 1) -> Loc:
        """The location of character `offset` inside the string scalar at `path`."""
        mark = self.mark(path)
        value = _get(self.data, path)
        if not isinstance(value, str) or mark.style in ("|", ">"):
            return self._loc_in_block(mark, value, offset, length)
        if "\n" in value[:offset]:
            return self.loc(path)
        quote = 1 if mark.style in ("'", '"') else 0
        return Loc(self.file, mark.line + 1, mark.col + 1 + quote + offset, length)

    def _loc_in_block(self, mark: Mark, value: Any, offset: int, length: int) -> Loc:
        if not isinstance(value, str):
            return Loc(self.file, mark.line + 1, mark.col + 1)
        before = value[:offset]
        line = mark.line + 1 + before.count("\n")
        lines = self.text.splitlines()
        src = lines[line] if line < len(lines) else ""
        indent = len(src) - len(src.lstrip(" "))
        col = offset - (before.rfind("\n") + 1)
        return Loc(self.file, line + 1, indent + col + 1, length)


def _get(data: Any, path: DocPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def load_file(path: Path, display: str | None = None) -> Doc:
    """Read and parse one YAML file; raise JourneyctlError with a located diagnostic on failure."""
    display = display or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise _error("JC001", f"{display}: file not found", Loc(display, 0, 0)) from exc
    except OSError as exc:
        raise _error("JC001", f"cannot read {display}: {exc.strerror}", Loc(display)) from exc
    return parse(decode(raw, display), display)


def decode(raw: bytes, display: str) -> str:
    """Strictly decode UTF-8 (a BOM is allowed), locating the first bad byte."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = raw[: exc.start]
        line = head.count(b"\n") + 1
        col = exc.start - (head.rfind(b"\n") + 1) + 1
        raise _error(
            "JC002",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
            Loc(display, line, col),
            "save the file as UTF-8 (journeyctl reads every file as UTF-8)",
        ) from None


def parse(text: str, display: str, loader: type = _Loader) -> Doc:
    builder = _Builder(display)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        if _LIBYAML_DEPTH in (exc.problem or "") and loader is not yaml.SafeLoader:
            # libyaml (PyYAML >= 6.0.4) stops at its own depth limit while scanning ahead,
            # before our builder sees level MAX_DEPTH; the pure-Python parser has no such
            # limit, so it reaches ours and reports the same JC005 at the same place.
            return parse(text, display, yaml.SafeLoader)
        raise _syntax_error(exc, text, display) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise _error(
            "JC003",
            f"character U+{char:04X} is not allowed in YAML",
            Loc(display, line, col),
            "remove the control character",
        ) from None
    return Doc(display, text, builder.root, builder.marks, builder.key_marks)


def _line_col(text: str, position: int) -> tuple[int, int]:
    head = text[:position]
    return head.count("\n") + 1, position - (head.rfind("\n") + 1) + 1


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, display: str) -> JourneyctlError:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    hint = None
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        problem = "tab character where YAML needs spaces"
        hint = "indent with spaces; YAML forbids tabs for indentation"
    elif exc.context:
        hint = f"{exc.context} (line {exc.context_mark.line + 1})" if exc.context_mark else None
    return _error("JC003", problem, Loc(display, line, col), hint)


def _error(code: str, message: str, loc: Loc, hint: str | None = None) -> JourneyctlError:
    return JourneyctlError([diagnostic(code, message, loc, hint)])


# --- scalar resolution: the YAML 1.2 core schema --------------------------------------------

_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE = "tag:yaml.org,2002:"


def resolve_plain(value: str) -> Any:
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.match(value):
        return int(value)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value


def _resolve_tagged(tag: str, value: str) -> Any:
    if tag == _CORE + "str":
        return value
    resolved = resolve_plain(value)
    expected: dict[str, Any] = {  # type or tuple of types (Any: isinstance then keeps Any)
        "int": int, "float": (int, float), "bool": bool, "null": type(None)}
    kind = tag.removeprefix(_CORE)
    if kind in expected and isinstance(resolved, expected[kind]):
        return float(resolved) if kind == "float" else resolved
    raise ValueError(f"{value!r} is not a valid !!{kind}")


# --- the builder ------------------------------------------------------------------------------


@dataclass
class _Frame:
    obj: dict[str, Any] | list[Any]
    path: DocPath
    anchor: str | None
    start_count: int
    key: str | None = None
    key_mark: Mark | None = None
    merged: frozenset[str] = frozenset()


class _Builder:
    def __init__(self, display: str) -> None:
        self.display = display
        self.root: Any = None
        self.marks: dict[DocPath, Mark] = {}
        self.key_marks: dict[DocPath, Mark] = {}
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.count = 0
        self.documents = 0

    def fail(self, code: str, message: str, mark: Any, hint: str | None = None) -> NoReturn:
        raise _error(code, message, Loc(self.display, mark.line + 1, mark.column + 1), hint)

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.fail("JC006", "a file may hold only one YAML document", event.start_mark,
                          "remove the `---` separator or split the file")
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._start(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._end(event)

    def _mark(self, event: yaml.Event, style: str | None = None) -> Mark:
        s, e = event.start_mark, event.end_mark
        assert s is not None and e is not None  # the parser marks every event it emits
        return Mark(s.line, s.column, e.line, e.column, style)

    def _count(self, n: int, event: yaml.Event) -> None:
        self.count += n
        if self.count > MAX_NODES:
            self.fail("JC005", f"document expands to more than {MAX_NODES:,} values",
                      event.start_mark, "aliases (*name) may not multiply the document like this")

    def _child_path(self) -> DocPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.obj, list):
            return (*top.path, len(top.obj))
        return (*top.path, top.key) if top.key is not None else top.path

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        self._count(1, event)
        style = event.style or None
        plain = event.implicit[0] and style is None
        value: Any = event.value
        if plain:
            value = resolve_plain(event.value)
        elif event.tag not in (None, "!"):
            if not event.tag.startswith(_CORE):
                self.fail("JC006", f"YAML tag {event.tag} is not supported", event.start_mark,
                          "remove the tag; journeyctl files use plain YAML values")
            try:
                value = _resolve_tagged(event.tag, event.value)
            except ValueError as exc:
                self.fail("JC003", str(exc), event.start_mark)
        if self._is_key_position():
            self._set_key(event, event.value if plain or isinstance(value, str) else value)
            return
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self._attach(value, self._mark(event, style), event)

    def _is_key_position(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return top is not None and isinstance(top.obj, dict) and top.key is None

    def _set_key(self, event: yaml.ScalarEvent, key: Any) -> None:
        top = self.stack[-1]
        key = str(key)
        if key in top.obj and key not in top.merged:
            first = self.key_marks.get((*top.path, key))
            where = f" (first defined on line {first.line + 1})" if first else ""
            self.fail("JC004", f"duplicate key '{key}'{where}", event.start_mark)
        top.key = key
        top.key_mark = self._mark(event)

    def _alias(self, event: yaml.AliasEvent) -> None:
        if event.anchor in self.open_anchors:
            self.fail("JC005", f"alias *{event.anchor} refers to itself", event.start_mark,
                      "an anchor cannot contain an alias to itself")
        if event.anchor is None or event.anchor not in self.anchors:
            self.fail("JC003", f"unknown alias *{event.anchor}", event.start_mark,
                      f"define the anchor &{event.anchor} before using it")
        value, size = self.anchors[event.anchor]
        if self._is_key_position():
            self.fail("JC006", "an alias cannot be used as a mapping key", event.start_mark)
        self._count(size, event)
        self._attach(value, self._mark(event), event)

    def _start(self, event: yaml.CollectionStartEvent) -> None:
        if self._is_key_position():
            self.fail("JC006", "mapping keys must be plain strings", event.start_mark)
        if event.tag not in (None, "!", _CORE + "map", _CORE + "seq", _CORE + "omap"):
            self.fail("JC006", f"YAML tag {event.tag} is not supported", event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            self.fail("JC005", f"values are nested more than {MAX_DEPTH} levels deep",
                      event.start_mark, "flatten the structure; no journeyctl file needs "
                      "this depth")
        self._count(1, event)
        path = self._child_path()
        self.marks[path] = self._mark(event)
        obj: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(obj, path, event.anchor, self.count))

    def _end(self, event: yaml.CollectionEndEvent) -> None:
        frame = self.stack.pop()
        start, end = self.marks[frame.path], event.end_mark
        assert end is not None  # the parser marks every event it emits
        self.marks[frame.path] = start._replace(end_line=end.line, end_col=end.column)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.obj, self.count - frame.start_count + 1)
        self._attach(frame.obj, None, event)

    def _attach(self, value: Any, mark: Mark | None, event: yaml.Event) -> None:
        if not self.stack:
            self.root = value
            if mark:
                self.marks[()] = mark
            return
        top = self.stack[-1]
        path = self._child_path()
        if mark:
            self.marks[path] = mark
        if isinstance(top.obj, list):
            top.obj.append(value)
            return
        assert top.key is not None
        if top.key == "<<" and top.key_mark and top.key_mark.style is None:
            self._merge(top, value, mark, event)
        else:
            top.obj[top.key] = value
            if top.key_mark:
                self.key_marks[path] = top.key_mark
            top.merged = top.merged - {top.key}
        top.key = None

    def _merge(self, top: _Frame, value: Any, mark: Mark | None, event: yaml.Event) -> None:
        """`<<: *defaults` merges a mapping's keys; keys written explicitly win."""
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            self.fail("JC003", "`<<` merges only mappings", event.start_mark)
        assert isinstance(top.obj, dict)
        added = set()
        for source in sources:
            for key, item in source.items():
                if key not in top.obj:
                    top.obj[key] = item
                    added.add(key)
                    if mark:
                        self.marks[(*top.path, key)] = mark
        top.merged = top.merged | added
