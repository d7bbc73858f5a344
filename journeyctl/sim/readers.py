"""Event and profile files (SPEC §3): JSONL or CSV, optionally gzip-compressed, streamed,
and split into shards by user for parallel runs.

A bad record never stops a run: it comes back as a `Reject` with its file, line and reason, and
reading goes on. Each record is checked against the catalog by `journeyctl.records`, which the
daemon and journey tests share.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from journeyctl.engine.state import merge_profile
from journeyctl.model import Attr, Catalog
from journeyctl.records import Record, TimeParser, Undeclared, parse_event, parse_profile


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    reason: str


class InputError(Exception):
    """A file cannot be read at all (missing, not gzip, a CSV without the needed columns...):
    `path` and `line` say where, `hint` how to fix it."""

    def __init__(self, message: str, path: str, line: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint

    def parts(self) -> tuple[str, str, int, str | None]:
        """What it carries, to send it to another process (and `InputError(*parts)` back)."""
        return self.message, self.path, self.line, self.hint


# What reading a file (plain or gzip) raises when it cannot be read on.
READ_ERRORS = (OSError, EOFError, zlib.error, csv.Error)


def unreadable(path: Path, exc: Exception, line: int = 1) -> InputError:
    shown = str(path)
    if isinstance(exc, gzip.BadGzipFile):
        return InputError("not a gzip file", shown, line,
                          "the name ends in .gz: compress it with gzip, or drop the .gz")
    if isinstance(exc, EOFError | zlib.error):
        return InputError(f"the gzip data is cut short or corrupt ({exc})", shown, line,
                          "compress the file again")
    if isinstance(exc, csv.Error):
        return InputError(f"not a readable CSV file: {exc}", shown, line,
                          "fix the quoting on that line (a field with a comma, quote or line "
                          "break is written in double quotes)")
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, not a file", shown, line, "name a JSONL or CSV file")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InputError(f"cannot read the file: {reason}", shown, line,
                      "check the path and its permissions")


def open_binary(path: Path) -> IO[bytes]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
        return path.open("rb")
    except OSError as exc:
        raise unreadable(path, exc) from exc


def data_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return "csv" if suffixes and suffixes[-1] == ".csv" else "jsonl"

def shard_of(user_id: str, count: int) -> int:
    return zlib.crc32(user_id.encode()) % count


_USER_ID = re.compile(rb'"user_id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)')


def _line_shard(line: bytes, count: int) -> int | None:
    """The shard of a JSONL line's user, read without parsing the line; None when that cannot
    be told for sure (no user_id, or "user_id" written more than once)."""
    if line.count(b'"user_id"') != 1:
        return None
    match = _USER_ID.search(line)
    if match is None:
        return None
    try:
        user = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return None
    return shard_of(str(user), count)


def read_events(path: Path, index: int, catalog: Catalog, parse_time: TimeParser,
                shard: tuple[int, int] | None = None) -> Generator[Record | Reject]:
    """Every record of one event file, in file order. With `shard` (index, count), only the
    lines of that shard's users: the others are skipped without being parsed, and a line
    whose user cannot be told is rejected by shard 0 only, so each line counts once. Raises
    InputError when the file cannot be read on (not gzip, a CSV without the needed columns)."""
    shown = str(path)
    with open_binary(path) as handle:
        try:
            if data_format(path) == "csv":
                yield from _csv_events(handle, shown, index, catalog, parse_time, shard)
                return
            for line_no, line in enumerate(handle, 1):
                owner = None
                if shard is not None:
                    owner = _line_shard(line, shard[1])
                    if owner is not None and owner != shard[0]:
                        continue
                if not line.strip():
                    continue
                try:
                    raw = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if owner is not None or shard is None or shard[0] == 0:
                        yield Reject(shown, line_no, _json_problem(exc))
                    continue
                record = parse_event(raw, catalog, parse_time, index, line_no)
                if isinstance(record, Record):
                    if owner is not None or owns(shard, record.user_id):
                        yield record
                elif owner is not None or shard is None or shard[0] == 0:
                    yield Reject(shown, line_no, record)
        except READ_ERRORS as exc:
            raise unreadable(path, exc) from exc


NOT_UTF8 = "not UTF-8 text (a byte that is not UTF-8): save the file as UTF-8"


def _json_problem(exc: orjson.JSONDecodeError) -> str:
    reason = str(exc).split(":")[0]
    if "UTF-8" in reason:
        return NOT_UTF8
    return f"not valid JSON ({reason})"


def owns(shard: tuple[int, int] | None, user_id: str) -> bool:
    """Whether `user_id` belongs to `shard` (index, count); every user does without one."""
    return shard is None or shard_of(user_id, shard[1]) == shard[0]


CSV_COLUMNS = ("event_id", "user_id", "event", "timestamp")
_CSV_REQUIRED = ("user_id", "event", "timestamp")


class _Lines:
    """The lines of a text stream decoded with `surrogateescape`, noting the numbers of those
    that held bytes which are not UTF-8 (so one bad byte rejects its record, not the file)."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text
        self.bad: list[int] = []

    def __iter__(self) -> Iterator[str]:
        for number, line in enumerate(self.text, 1):
            if not line.isascii():
                try:
                    line.encode("utf-8")
                except UnicodeEncodeError:
                    self.bad.append(number)
            yield line


def _csv_rows(handle: IO[bytes], shown: str, required: tuple[str, ...]
              ) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each CSV record as (its last line, the row), or (line, reason) for one holding bytes
    that are not UTF-8. InputError when the header lacks a `required` column."""
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark, which is no part of the
    # first column's name.
    lines = _Lines(io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape",
                                    newline=""))
    reader = csv.DictReader(lines)
    try:
        columns = reader.fieldnames
        if columns is None:
            return  # an empty file
        if lines.bad:
            raise InputError("the header line is not UTF-8 text", shown, 1,
                             "save the file as UTF-8")
        missing = [name for name in required if name not in columns]
        if missing:
            names = ", ".join(missing)
            raise InputError(
                f"the CSV header has no {names} column{'s' * (len(missing) > 1)}", shown, 1,
                f"the first line names the columns; it needs {', '.join(required)}")
        end = reader.line_num
        for row in reader:
            begin, end = end + 1, reader.line_num
            bad = lines.bad
            if bad and bad[-1] >= begin:
                yield bad[-1], NOT_UTF8
            else:
                yield end, row
    except csv.Error as exc:
        raise unreadable(Path(shown), exc, reader.line_num) from exc
    finally:
        lines.text.detach()  # not closed on collection: `handle` is its owner's to close


def _csv_events(handle: IO[bytes], shown: str, index: int, catalog: Catalog,
                parse_time: TimeParser, shard: tuple[int, int] | None
                ) -> Iterator[Record | Reject]:
    for line_no, row in _csv_rows(handle, shown, _CSV_REQUIRED):
        if isinstance(row, str):
            if shard is None or shard[0] == 0:
                yield Reject(shown, line_no, row)
            continue
        user = row.get("user_id") or ""
        if shard is not None and (shard_of(user, shard[1]) if user else 0) != shard[0]:
            continue
        props = _csv_properties(catalog, row.get("event") or "", row)
        if isinstance(props, str):
            yield Reject(shown, line_no, props)
            continue
        raw = {k: row.get(k) or None for k in CSV_COLUMNS} | {"properties": props}
        record = parse_event(raw, catalog, parse_time, index, line_no)
        yield record if isinstance(record, Record) else Reject(shown, line_no, record)


def _csv_properties(catalog: Catalog, name: str, row: dict[str, Any]) -> dict[str, Any] | str:
    """Extra CSV columns become properties, typed by the catalog (CSV cells are all text)."""
    definition = catalog.events.get(name)
    declared = definition.properties if definition else {}
    props: dict[str, Any] = {}
    for column, cell in row.items():
        if column in CSV_COLUMNS or column is None or cell in (None, ""):
            continue
        attr = declared.get(column)
        if attr is None:
            props[column] = cell
            continue
        try:
            props[column] = _from_text(attr.type, cell)
        except ValueError:
            return f"property '{column}' {_not_of(attr.type)}"
    return props


def _not_of(kind: str) -> str:
    """A CSV cell that cannot be read as `kind`, worded as for a JSON value of the wrong type
    (a cell is text): one message whichever format the file is in."""
    return f"is text, the catalog says {kind}"


def _from_text(kind: str, cell: str) -> Any:
    """A CSV cell as the catalog types it; ValueError when it is not of that type. Booleans
    are `true` or `false` (any case) only, as in JSON: `yes`, `1` or `on` could as well be a
    typo for anything, and consent must not be guessed."""
    if kind == "number":
        number = float(cell)
        return int(number) if number.is_integer() and "." not in cell else number
    if kind == "integer":
        return int(cell)
    if kind == "boolean":
        lowered = cell.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError(cell)
    if kind in ("list", "object"):
        return orjson.loads(cell)
    return cell


@dataclass
class ProfileFile:
    """A profile file as a shard reads it: `read` counts its records (lines; CSV records) of
    this shard, the rejected ones included."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    undeclared: Undeclared = field(default_factory=Undeclared)
    read: int = 0


def read_profiles(path: Path, catalog: Catalog, parse_time: TimeParser,
                  shard: tuple[int, int] | None = None) -> ProfileFile:
    """user_id -> profile; a later line for a user merges into the earlier one (nested objects
    merge too). Dotted CSV columns (`consent.email`) become nested objects. A rejected line is
    left out whole: the user keeps what their other lines say."""
    result = ProfileFile()
    shown = str(path)
    for line_no, raw in _profile_rows(path, catalog):
        parsed = parse_profile(raw, catalog, parse_time)
        if isinstance(parsed, str):
            # With several workers each reports the rejects of its own users only.
            owner = raw.get("user_id") if isinstance(raw, dict) else None
            if owns(shard, str(owner)) if owner else shard is None or shard[0] == 0:
                result.rejects.append(Reject(shown, line_no, parsed))
                result.read += 1
            continue
        if not owns(shard, parsed.user_id):
            continue
        result.read += 1
        result.undeclared.add(parsed.undeclared)
        merge_profile(result.profiles.setdefault(parsed.user_id, {}), parsed.attributes)
    return result


def _profile_rows(path: Path, catalog: Catalog) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with open_binary(path) as handle:
        try:
            if data_format(path) == "csv":
                for line_no, row in _csv_rows(handle, str(path), ("user_id",)):
                    yield line_no, row if isinstance(row, str) else _nest(
                        {k: v for k, v in row.items() if k and v != ""}, catalog.profile)
                return
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    raw = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield line_no, _json_problem(exc)
                    continue
                yield line_no, raw if isinstance(raw, dict) else "a profile must be a JSON object"
        except READ_ERRORS as exc:
            raise unreadable(path, exc) from exc


def _nest(flat: dict[str, Any], declared: Mapping[str, Attr]) -> dict[str, Any] | str:
    """A CSV profile row as a record, or the reason it is rejected: dotted columns nest, cells
    of declared attributes are read as the catalog types them (`_cell`)."""
    nested: dict[str, Any] = {}
    for key, cell in flat.items():
        target = nested
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                return f"column '{key}' nests under column '{part}', which has a value"
        try:
            value = _cell(key, cell, declared)
        except ValueError as exc:
            return str(exc)
        below = target.get(last)
        if isinstance(below, dict) and isinstance(value, dict):
            merge_profile(below, value)
        elif isinstance(below, dict):
            return f"column '{key}' has a value, and columns nested under it"
        else:
            target[last] = value
    return nested


def _cell(key: str, cell: str, declared: Mapping[str, Attr]) -> Any:
    """A CSV cell typed by the attribute the catalog declares at its dotted path (text stays
    text, so `+8210...` stays a phone number); an undeclared one is guessed (`_guess`).
    ValueError, with the reason, for a cell that is not of the declared type."""
    if key == "user_id":
        return cell  # an id, as in event files: "007" is not 7
    attr = None
    fields: Mapping[str, Attr] | None = declared
    for part in key.split("."):
        attr = fields.get(part) if fields is not None else None
        if attr is None:
            return _guess(cell)
        fields = attr.fields
    assert attr is not None
    try:
        return _from_text(attr.type, cell)
    except ValueError:
        raise ValueError(f"attribute '{key}' {_not_of(attr.type)}") from None


def _guess(cell: str) -> Any:
    """CSV profile cells the catalog does not type: true/false and numbers become JSON values,
    the rest stays text."""
    lowered = cell.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


