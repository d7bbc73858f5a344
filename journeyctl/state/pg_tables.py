"""What every PostgreSQL table group of the daemon's runtime shares: the store, this daemon's
id and lease, the transaction a write joins, and the partitions a batch may run (see
`journeyctl.state.pg_runtime`).

Fencing: a batch first locks (FOR SHARE) the lease rows this daemon holds unexpired, and runs
only inputs of those partitions. Another daemon takes a partition by updating its lease row,
which waits for (or, with SKIP LOCKED, skips) a row share-locked by a running batch: so the
partitions a batch runs cannot change hands before it commits, and a daemon whose lease lapsed
(paused, cut off) finds in its next batch that it holds nothing it lost.

A batch keeps what it learnt about its partitions' pending inputs (`BatchCache`): only this
daemon runs them while the batch holds them, so what it read at the start stays right, kept up
to date with the batch's own writes (see each field). It lives for the batch only: dropped when
the batch ends, committed or not."""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg

from journeyctl.state.base import PendingTick
from journeyctl.state.failures import LeaseLost
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg import PgStore

_HELD = "SELECT part FROM leases WHERE owner = %s AND expires_at > clock_timestamp()"


@dataclass
class BatchCache:
    """What a batch knows of its partitions' pending inputs (see the module's docstring)."""

    # pending events in (received_at, seq) order, raw rows (`pg_inbox`); `more`: whether others
    # may wait beyond them (the last page was full); `done`: the seqs this batch processed
    events: deque[tuple[Any, ...]] = field(default_factory=deque)
    more: bool = True
    done: set[int] = field(default_factory=set)
    # the events its transitions ran, seq -> when: marked processed as it ends (`_flush`)
    processed: dict[int, float] = field(default_factory=dict)
    # no timer of the batch's partitions is due before this (`pg_timers`): a lower bound
    timers_after: float = -math.inf
    # the pending ticks of the batch's partitions, in order (`pg_timers`); None: not read yet
    ticks: list[PendingTick] | None = None


def merged(select: str, parts: list[int], order: str, limit: int) -> str:
    """The first `limit` rows in `order` of `select` (ending in a WHERE clause) over the
    partitions `parts`: each partition's rows in order (an index scan: `part = N`), merged
    (Merge Append), so it reads one probe per partition plus the rows it returns, however many
    wait behind them. Measured on 50,000 pending events in 32 partitions: 1.3 ms for a page
    of 200, fetched. The planner merges only branches that are ordered and limited themselves
    (without: it sorted every pending row, 60 ms), with limits it knows (as parameters: a
    generic plan, 3 ms); a `part = ANY(...)` scan cannot return rows in order either.
    Partitions and limit are our integers, not input."""
    if len(parts) == 1:  # (a lone branch in parentheses takes no second ORDER BY)
        return f"{select} part = {int(parts[0])} ORDER BY {order} LIMIT {int(limit)}"
    branches = " UNION ALL ".join(f"({select} part = {int(part)} ORDER BY {order} "
                                  f"LIMIT {int(limit)})" for part in parts)
    return f"{branches} ORDER BY {order} LIMIT {int(limit)}"


def daemon_id() -> str:
    """Unique among the daemons of a state, and readable: which machine and process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PgTables:
    """Used from one thread (the daemon's core thread): one connection, one transaction."""

    def __init__(self, store: PgStore, lease: float = 10.0) -> None:
        assert store.exists, "the daemon needs an applied state"
        self._store = store
        self.daemon_id = daemon_id()
        self.lease = lease
        self._batch_parts: list[int] | None = None  # inside a batch: the partitions it runs
        self._cache = BatchCache()  # inside a batch: what it knows of their pending inputs
        self._configured: psycopg.Connection[Any] | None = None

    @property
    def store(self) -> PgStore:
        return self._store

    def _conn(self) -> psycopg.Connection[Any]:
        """The store's connection (a new one after the old broke: the server restarted). A
        new connection is told to end a transaction left idle longer than a lease: a daemon
        paused inside a batch would otherwise keep its partitions' lease rows locked, and no
        other daemon could take them over."""
        conn = self._store.connection()
        if conn is not self._configured:
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                         [str(max(1, int(self.lease * 1000)))])
            self._configured = conn
        return conn

    @property
    def _batched(self) -> bool:
        return self._batch_parts is not None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several engine transitions (their commits join it), over
        the partitions this daemon holds as it starts (locked against a takeover until it
        ends: see the module's docstring)."""
        conn = self._conn()
        with conn.transaction():
            self._batch_parts = [r[0] for r in conn.execute(_HELD + " FOR SHARE",
                                                            [self.daemon_id])]
            self._cache = BatchCache()
            try:
                yield
                self._flush()
            finally:
                self._batch_parts = None
                self._cache = BatchCache()

    def _flush(self) -> None:
        """The events the batch's transitions ran, marked processed in one statement as it
        commits: a statement less for each (the same transaction, so nobody sees the
        difference; the batch's own reads leave them out by `BatchCache.done`)."""
        processed = self._cache.processed
        if processed:
            self._conn().execute(
                "UPDATE inbox SET processed_at = x.at FROM unnest(%s::bigint[], "
                "%s::float8[]) AS x(seq, at) WHERE inbox.seq = x.seq",
                [list(processed), list(processed.values())])

    def _held(self) -> list[int]:
        """The partitions whose inputs may run now: the batch's, or (outside a batch) those
        this daemon holds unexpired."""
        if self._batch_parts is not None:
            return self._batch_parts
        return [r[0] for r in self._conn().execute(_HELD, [self.daemon_id])]

    def _fenced(self, user_id: str) -> int:
        """`user_id`'s partition, which the batch must hold for the transition to commit (an
        input chosen before the batch began, for a partition lost since, is refused)."""
        part = partition_of(user_id, self._store.partitions)
        if self._batch_parts is not None and part not in self._batch_parts:
            raise LeaseLost(f"partition {part} (of user {user_id}) is no longer held by "
                            f"this daemon")
        return part

    def _transaction(self) -> AbstractContextManager[Any]:
        return nullcontext() if self._batched else self._conn().transaction()

    def savepoint(self) -> AbstractContextManager[Any]:
        """Inside a transaction: what the block wrote is undone if it raises (psycopg's
        nested transaction, a SAVEPOINT)."""
        return self._conn().transaction()
