"""Which exceptions are a store's own trouble rather than a failure of what was written."""

from __future__ import annotations

import sqlite3


def is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` is the store's own trouble (busy, full, read-only, damaged, I/O), which
    the daemon waits out and answers 503 for, rather than a failure of what was written (a
    bug for one input, which is set aside alone). The one place that knows each store's
    exception types, so the daemon catches none of them by name."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError
