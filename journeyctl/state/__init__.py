"""State stores: applied journey versions, history, the lock, and the daemon's runtime data.
SQLite (one file, one daemon) and PostgreSQL (shared by CI runners and several daemons); a
state URL names one (`journeyctl.state.urls`)."""

from __future__ import annotations

from journeyctl.state.base import Runtime, StateError, Store
from journeyctl.state.failures import is_store_failure as is_store_failure
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.urls import PostgresUrl, StateLocation, parse_state_url


def open_store(location: StateLocation, create: bool = False, readonly: bool = False,
               shown: str | None = None) -> Store:
    """The state at `location` (see `SqliteStore` and `PgStore` for `create` and
    `readonly`); `shown` is how messages name a file."""
    if isinstance(location, PostgresUrl):
        from journeyctl.state.pg import PgStore  # psycopg is imported only when used

        return PgStore(location, create=create, readonly=readonly)
    return SqliteStore(location, create=create, readonly=readonly, shown=shown)


def open_runtime(location: StateLocation, lease: float = 10.0) -> Runtime:
    """The daemon's runtime on the applied state at `location` (checked by `serve` first: an
    applied state that is gone since is FileNotFoundError). Open it on the thread that uses
    it: an SQLite connection belongs to the thread that opened it. `lease`: seconds a
    partition of a shared (PostgreSQL) state stays with a daemon that stopped renewing it."""
    if isinstance(location, PostgresUrl):
        from journeyctl.state.pg import PgStore
        from journeyctl.state.pg_runtime import PgRuntime

        return PgRuntime(PgStore(location), lease=lease)
    from journeyctl.state.sqlite_runtime import SqliteRuntime

    store = SqliteStore(location)
    if not store.exists:
        raise FileNotFoundError(location)
    return SqliteRuntime(store)


__all__ = ["PostgresUrl", "Runtime", "SqliteStore", "StateError", "StateLocation", "Store",
           "open_runtime", "open_store", "parse_state_url"]
