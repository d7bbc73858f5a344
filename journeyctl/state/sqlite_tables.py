"""What every SQLite table group of the daemon's runtime shares: the open store, its
connection, and the transaction its writes join (see `journeyctl.state.sqlite_runtime`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from journeyctl.state.sqlite import SqliteStore


class SqliteTables:
    """Used from one thread: the connection belongs to the thread that opened it."""

    def __init__(self, store: SqliteStore) -> None:
        assert store.db is not None, "the daemon needs an applied state"
        self._store = store
        self.db = store.db
        self._batched = False

    @property
    def store(self) -> SqliteStore:
        return self._store

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several engine transitions (their commits join it)."""
        with self._store.transaction():
            self._batched = True
            try:
                yield
            finally:
                self._batched = False

    def _transaction(self) -> AbstractContextManager[None]:
        return nullcontext() if self._batched else self._store.transaction()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: what the block wrote is undone if it raises. (An I/O error or
        a full disk can end the whole transaction in SQLite: then there is nothing to undo.)"""
        self.db.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK TO part")
                self.db.execute("RELEASE part")
            raise
        self.db.execute("RELEASE part")
