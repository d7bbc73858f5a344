"""Which exceptions are a store's own trouble rather than a failure of what was written."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any


class LeaseLost(Exception):
    """A daemon's transition for a partition it no longer holds (its lease lapsed and another
    daemon took it): nothing of it is committed; the partition's new holder runs the input."""


def is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` is the store's own trouble (busy, full, read-only, damaged, I/O, the
    server gone or restarting, a deadlock or a timeout), which the daemon waits out and
    answers 503 for, rather than a failure of what was written (a bug for one input, or data
    the store refuses, which is set aside alone). The one place that knows each store's
    exception types, so the daemon catches none of them by name."""
    if isinstance(exc, sqlite3.OperationalError | LeaseLost) or type(exc) is sqlite3.DatabaseError:
        return True
    # psycopg is imported only with a PostgreSQL state: without it, no exception is its own
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, _pg_failures(psycopg))


def _pg_failures(psycopg: Any) -> tuple[type[BaseException], ...]:
    """OperationalError holds the server's trouble: the connection broken or refused, a
    shutdown or restart (AdminShutdown, CannotConnectNow), a statement or lock timeout
    (QueryCanceled, LockNotAvailable), a deadlock or serialization failure, a full disk or
    too little memory (DiskFull, InsufficientResources). The others: a server that became a
    read-only replica (failover), damaged pages, our idle transaction ended by the server, a
    privilege taken away — none of them caused by one input's data (DataError, IntegrityError
    and ProgrammingError are)."""
    errors = psycopg.errors
    return (psycopg.OperationalError, errors.ReadOnlySqlTransaction, errors.DataCorrupted,
            errors.IndexCorrupted, errors.IdleInTransactionSessionTimeout,
            errors.InsufficientPrivilege)
