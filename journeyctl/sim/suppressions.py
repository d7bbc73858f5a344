"""The global suppression list for `simulate --suppressions FILE` (the daemon keeps its own in
the state: `POST /v1/suppressions`): the users no promotional message may reach.

One user id per line (blank lines and `# comments` skipped), or JSON lines with a `user_id`
— what `GET /v1/suppressions?format=jsonl` gives — so a list exported from a running daemon
replays as it is. `.gz` allowed.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from journeyctl.sim.readers import READ_ERRORS, InputError, open_binary, unreadable

HEADER = "user_id"  # a CSV export's one column


def read_suppressions(path: Path) -> frozenset[str]:
    """The user ids the file lists; InputError at the first line that is not one."""
    users: set[str] = set()
    number = 0
    try:
        with open_binary(path) as stream:
            for number, raw in enumerate(stream, 1):
                user = _user(raw, path, number)
                if user is not None:
                    users.add(user)
    except READ_ERRORS as exc:
        raise unreadable(path, exc, number or 1) from exc
    return frozenset(users)


def _user(raw: bytes, path: Path, number: int) -> str | None:
    try:
        line = raw.decode().strip()
    except UnicodeDecodeError:
        raise InputError("the line is not UTF-8 text", str(path), number,
                         "save the file as UTF-8") from None
    if not line or line.startswith("#") or (number == 1 and line == HEADER):
        return None
    if not line.startswith("{"):
        return line
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not a JSON object: {exc}", str(path), number,
                         'write one user id per line, or {"user_id": "..."}') from None
    user = value.get("user_id") if isinstance(value, dict) else None
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if not isinstance(user, str) or not user:
        raise InputError("the line has no user_id", str(path), number,
                         'write {"user_id": "..."} (a string), or the user id alone')
    return user
