"""State stores: applied journey versions, history, the lock, and the daemon's runtime data."""

from __future__ import annotations

from pathlib import Path

from journeyctl.state.base import StateError, Store
from journeyctl.state.sqlite import SqliteStore


def state_path(url: str, root: Path) -> Path:
    """`sqlite:///relative/path` (relative to the project) or `sqlite:////absolute/path`."""
    if url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        path = Path(rest)
        return path if path.is_absolute() else root / path
    if url.startswith("postgresql://"):
        raise StateError("JC967", "PostgreSQL state stores are not available in this version",
                         "use sqlite:///path/to/state.db")
    raise StateError("JC967", f"{url!r} is not a state URL",
                     "write sqlite:///relative/path.db or sqlite:////absolute/path.db")


def open_store(url: str, root: Path, create: bool = False) -> SqliteStore:
    return SqliteStore(state_path(url, root), create=create)


__all__ = ["SqliteStore", "StateError", "Store", "open_store", "state_path"]
