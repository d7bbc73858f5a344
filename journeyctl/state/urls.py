"""State URLs: where a state lives, and how messages may name it.

- `sqlite:///relative/path.db` (relative to the project) or `sqlite:////absolute/path.db`;
- `postgresql://user@host:port/db` (or `postgres://`), with `?schema=NAME` so that several
  projects share one database (default `public`) and any libpq parameter (`sslmode=require`).

A PostgreSQL password never comes from a file or the command line (a shell history and `ps`
would show it): libpq reads `PGPASSWORD` (or `~/.pgpass`) by itself, and `env:NAME` in the
password's place reads it from the variable NAME. Only a URL read from the environment
(`JOURNEYCTL_STATE`) may carry a password as it is. A URL is shown without its password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from journeyctl.diagnostics import Loc
from journeyctl.state.base import StateError

ENV_VARIABLE = "JOURNEYCTL_STATE"
SQLITE_HINT = "write sqlite:///relative/path.db (relative to the project) or " \
    "sqlite:////absolute/path.db"
URL_HINT = f"{SQLITE_HINT}, or postgresql://user@host:5432/database"
PASSWORD_HINT = "leave the password out of the URL: set PGPASSWORD, or write " \
    "postgresql://user:env:NAME@host/db to read it from the variable NAME"
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL state: libpq's URL (password left out), the schema, and the password
    (from the environment) kept out of repr and of every message."""

    conninfo: str  # without the password and without `schema`
    schema: str
    shown: str  # how messages name it: the URL as given, without a password
    password: str | None = field(default=None, repr=False)
    recorded: str = ""  # how a saved plan records it: the URL as given, a password written in
    # it (from the environment) left out, `env:NAME` kept (it names no secret)

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for `psycopg.connect(conninfo, ...)`."""
        return {"password": self.password} if self.password is not None else {}


StateLocation = Path | PostgresUrl


def parse_state_url(url: str, root: Path, where: Loc | None = None,
                    from_environment: bool = False) -> StateLocation:
    """The state `url` names: a file (relative to `root`) or a PostgreSQL database. A URL that
    is neither, or that writes a password where it may not, is a JC967 located at `where`
    (the option, the variable or the `state:` that gave it)."""
    loc = where or Loc("state", 0, 0)
    url = url.strip()
    if url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        if not rest.strip("/"):
            raise StateError("JC967", f"the state URL {url!r} names no file", SQLITE_HINT, loc)
        path = Path(rest)
        return path if path.is_absolute() else root / path
    if is_postgres(url):
        return _postgres(url, loc, from_environment)
    # a value from the environment is not echoed: it may be a secret set by mistake
    what = f"{ENV_VARIABLE} is not a state URL" if from_environment else \
        f"{_without_password(url)!r} is not a state URL"
    raise StateError("JC967", what, URL_HINT, loc)


def _postgres(url: str, loc: Loc, from_environment: bool) -> PostgresUrl:
    _, userinfo, _ = _userinfo(url)
    if userinfo is not None and any(c in userinfo for c in "/?#"):
        raise StateError("JC967", f"the user or password of the state URL "
                         f"{_without_password(url)!r} holds /, ? or # as it is",
                         "percent-encode them in the URL (%2F for /, %3F for ?, %23 for #), "
                         "or leave the password out: set PGPASSWORD", loc)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise StateError("JC967", f"the state URL {_without_password(url)!r} has a port that "
                         "is not a number", URL_HINT, loc) from None
    shown = _without_password(url)
    if not parts.path.strip("/"):
        raise StateError("JC967", f"the state URL {shown!r} names no database",
                         "write postgresql://user@host:5432/database", loc)
    password = None
    if parts.password is not None:
        given = unquote(parts.password)
        if given.startswith("env:"):
            name = given.removeprefix("env:")
            password = os.environ.get(name)
            if not name or password is None:
                raise StateError("JC967", f"the state URL {shown!r} reads its password from "
                                 f"${name or '(no name)'}, which is not set",
                                 f"export {name or 'NAME'}=... before running journeyctl", loc)
        elif from_environment:
            password = given
        else:
            raise StateError("JC967", f"the state URL {shown!r} holds a password",
                             PASSWORD_HINT, loc)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else "public"
    if not _SCHEMA.fullmatch(schema):
        raise StateError("JC967", f"the state URL {shown!r} names the schema {schema!r}",
                         "a schema is lower-case letters, digits and _ (not first), e.g. "
                         "?schema=marketing", loc)
    if {key.lower() for key, _ in query} & set(_SECRET_KEYS):
        raise StateError("JC967", f"the state URL {shown!r} holds a password", PASSWORD_HINT,
                         loc)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    conninfo = urlunsplit(("postgresql", netloc, parts.path, rest, ""))
    return PostgresUrl(conninfo, schema, shown, password, _recorded(url))


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


_SECRET_KEYS = ("password", "sslpassword")  # libpq parameters that hold a secret


def _userinfo(url: str) -> tuple[str, str | None, str]:
    """(`scheme://`, the user info, what follows it) of `url`, split at the last `@`: a
    password holding `/`, `?`, `#` or `@` not percent-encoded still ends there, so it is
    found (and masked) even where `urlsplit` would take it for the host or the path."""
    scheme, _, rest = url.partition("://")
    userinfo, at, after = rest.rpartition("@")
    return (f"{scheme}://", userinfo, after) if at else (f"{scheme}://", None, rest)


def _masked_query(after: str, mask: str | None) -> str:
    """`after` (host, path, query) with the values of secret query keys replaced by `mask`,
    or removed (None)."""
    head, question, query = after.partition("?")
    if not question:
        return after
    kept = []
    for item in query.split("&"):
        key = item.split("=", 1)[0]
        if key.lower() in _SECRET_KEYS:
            if mask is None:
                continue
            item = f"{key}={mask}"
        kept.append(item)
    return f"{head}?{'&'.join(kept)}" if kept else head


def _recorded(url: str) -> str:
    """`url` without a password written in it (in the user info or the query); `env:NAME`
    kept."""
    scheme, userinfo, after = _userinfo(url)
    after = _masked_query(after, None)
    if userinfo is None:
        return scheme + after
    user, colon, password = userinfo.partition(":")
    if colon and unquote(password).startswith("env:"):
        return f"{scheme}{userinfo}@{after}"
    return f"{scheme}{user}@{after}"


def _without_password(url: str) -> str:
    """`url` with a password (as written, or `env:NAME`; in the user info or the query)
    replaced by `***`."""
    scheme, userinfo, after = _userinfo(url)
    after = _masked_query(after, "***")
    if userinfo is None:
        return scheme + after
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{user}:***@{after}" if colon else f"{scheme}{userinfo}@{after}"
