"""State stores: applied journey versions, history, the lock, and the daemon's runtime data."""

from __future__ import annotations

from pathlib import Path

from journeyctl.diagnostics import Loc
from journeyctl.state.base import Runtime, StateError, Store
from journeyctl.state.failures import is_store_failure as is_store_failure
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime

URL_HINT = "write sqlite:///relative/path.db (relative to the project) or " \
    "sqlite:////absolute/path.db"


def state_path(url: str, root: Path, where: Loc | None = None) -> Path:
    """`sqlite:///relative/path` (relative to the project) or `sqlite:////absolute/path`.
    A URL that is neither is an error located at `where` (the option or file that gave it)."""
    loc = where or Loc("state", 0, 0)
    if url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        if not rest.strip("/"):
            raise StateError("JC967", f"the state URL {url!r} names no file", URL_HINT, loc)
        path = Path(rest)
        return path if path.is_absolute() else root / path
    if url.startswith(("postgresql://", "postgres://")):
        raise StateError("JC967", "PostgreSQL state stores are not supported yet",
                         f"keep the state in SQLite: {URL_HINT}", loc)
    raise StateError("JC967", f"{url!r} is not a state URL", URL_HINT, loc)


def open_runtime(path: Path) -> Runtime:
    """The daemon's runtime on the applied state at `path` (checked by `serve` first: an
    applied state that is gone since is FileNotFoundError). Open it on the thread that uses
    it: an SQLite connection belongs to the thread that opened it."""
    store = SqliteStore(path)
    if not store.exists:
        raise FileNotFoundError(path)
    return SqliteRuntime(store)


__all__ = ["Runtime", "SqliteStore", "StateError", "Store", "open_runtime", "state_path"]
