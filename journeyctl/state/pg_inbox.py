"""The inbox on PostgreSQL: events as they arrived, each processed once, by the daemon holding
its user's partition (see `journeyctl.state.base.Inbox`).

Any daemon ingests any event, in one statement however many (one round trip). It locks the
`partitions` rows of the partitions it adds to (in partition order: two ingests never
deadlock) until it commits, so within a partition events are committed in `seq` order; and it
stamps them no earlier than the partition's last arrival, so a partition's `received_at` never
goes back, even when the daemons' clocks disagree. The engine runs a partition's events in
(received_at, seq) order: their arrival order."""

from __future__ import annotations

from collections import Counter
from typing import Any

from journeyctl.state import codec
from journeyctl.state.base import InboxRow
from journeyctl.state.failures import is_store_failure
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg_tables import PgTables, merged

_INGEST = (
    "WITH locked AS (SELECT part, GREATEST(received, %(now)s::float8) AS r FROM partitions "
    "WHERE part = ANY(%(parts)s::int[]) ORDER BY part FOR UPDATE), "
    "added AS (INSERT INTO inbox (event_id, user_id, part, name, time, properties, "
    "received_at) SELECT x.e, x.u, x.p, x.n, x.t, x.b, locked.r FROM unnest(%(e)s::text[], "
    "%(u)s::text[], %(p)s::int[], %(n)s::text[], %(t)s::float8[], %(b)s::bytea[]) WITH "
    "ORDINALITY AS x(e, u, p, n, t, b, i) JOIN locked ON locked.part = x.p ORDER BY x.i "
    "ON CONFLICT (event_id, user_id) DO NOTHING RETURNING event_id, user_id), "
    "stamped AS (UPDATE partitions SET received = locked.r FROM locked WHERE "
    "partitions.part = locked.part AND partitions.received < locked.r) "
    "SELECT event_id, user_id FROM added")
_PENDING = ("SELECT seq, event_id, user_id, name, time, properties, received_at FROM inbox "
            "WHERE processed_at IS NULL AND")
_NOTHING = "SELECT NULL WHERE false"  # (no partition held)
PAGE = 200  # pending events a batch reads at once (a batch runs for 20 ms: ~50-100 of them)

class InboxTable(PgTables):
    def ingest(self, batches: list[list[dict[str, Any]]], now: float
               ) -> list[tuple[int, int] | Exception]:
        """Insert events (already validated), duplicates of a known `event_id` ignored; per
        batch, (accepted, duplicates). All batches go in one statement (one transaction); if
        the store refuses the data of one, each is tried again in its own savepoint of one
        transaction: the one that cannot be stored gets its exception, the others are
        committed. A failure of the store itself (the server gone, a full disk) fails all."""
        events = [e for es in batches for e in es]
        try:
            new = self._insert(events, now)
        except Exception as exc:
            if is_store_failure(exc):
                raise
            if len(batches) == 1:
                return [exc]
            with self._conn().transaction():
                return [self._insert_batch(es, now) for es in batches]
        results: list[tuple[int, int] | Exception] = []
        for batch in batches:
            accepted = sum(_was_new(e, new) for e in batch)
            results.append((accepted, len(batch) - accepted))
        return results

    def _insert_batch(self, events: list[dict[str, Any]], now: float
                      ) -> tuple[int, int] | Exception:
        try:
            with self.savepoint():
                accepted = sum(self._insert(events, now).values())
        except Exception as exc:
            if is_store_failure(exc):
                raise
            return exc
        return accepted, len(events) - accepted

    def _insert(self, events: list[dict[str, Any]], now: float
                ) -> Counter[tuple[str | None, str]]:
        """Insert `events` in their order, in one statement; the (event_id, user_id) of those
        that were new, counted (every event without an id is new)."""
        if not events:
            return Counter()
        count = self._store.partitions
        parts = [partition_of(e["user_id"], count) for e in events]
        cursor = self._conn().execute(_INGEST, {
            "now": now, "parts": sorted(set(parts)), "e": [e.get("event_id") for e in events],
            "u": [e["user_id"] for e in events], "p": parts, "n": [e["event"] for e in events],
            "t": [e["time"] for e in events],
            "b": [codec.dumps(e.get("properties") or {}) for e in events]})
        return Counter(cursor)


    def next_event(self, now: float) -> InboxRow | None:
        """The earliest unprocessed event of the partitions held."""
        while True:
            row = self._pending_event()
            if row is None:
                return None
            try:
                properties = codec.loads(row[5])
            except ValueError as exc:  # unreadable: set aside, or it would block every event
                self._set_aside_row(row, f"unreadable properties: {exc}", now)
                continue
            return InboxRow(row[0], row[1], row[2], row[3], row[4], properties, row[6])

    def _pending_event(self) -> tuple[Any, ...] | None:
        """The earliest pending event of the partitions held, as a row; inside a batch, from
        a page of them read once (and again when it runs out, if it was full).

        A page read at the start stays right for the whole batch. Its partitions are fenced:
        only this daemon processes their events until the batch ends, and the batch drops
        what it processed itself (`BatchCache.done`: a commit's `inbox_seq`, a set-aside).
        Other daemons may add events meanwhile, but a partition's new events commit after its
        older ones and never sort before them in (received_at, seq) (see the module's
        docstring): a page is always the head of each partition's queue, in order, and an
        event committed after it was read runs in the next batch, as if it had arrived just
        after this one — which could happen anyway. Order across partitions does not matter:
        they hold different users. The rows beyond a full page sort after its last one, so
        the next page carries on where it ended."""
        if not self._batched:
            return self._conn().execute(self._page_query(1)).fetchone()
        cache = self._cache
        while True:
            while cache.events and cache.events[0][0] in cache.done:
                cache.events.popleft()
            if cache.events or not cache.more:
                return cache.events[0] if cache.events else None
            # the events the batch ran are marked processed only as it ends (`_flush`): they
            # still come first, and the page reaches past them
            limit = PAGE + len(cache.processed)
            cache.events.extend(self._conn().execute(self._page_query(limit)))
            cache.more = len(cache.events) == limit

    def _page_query(self, limit: int) -> str:
        parts = self._held()
        return merged(_PENDING, parts, "received_at, seq", limit) if parts else _NOTHING

    def _set_aside_row(self, row: tuple[Any, ...], error: str, now: float) -> None:
        conn = self._conn()
        with self._transaction():
            conn.execute("UPDATE inbox SET processed_at = %s WHERE seq = %s", [now, row[0]])
            conn.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                         "('InboxRow', %s, %s, %s, %s)",
                         [row[2], codec.dumps({"seq": row[0], "event_id": row[1],
                                               "name": row[3],
                                               "properties": bytes(row[5]).decode(
                                                   "utf-8", "replace")}), error, now])
        self._cache.done.add(row[0])


def _was_new(event: dict[str, Any], new: Counter[tuple[str | None, str]]) -> bool:
    """Whether `event` was inserted: of the events with one id, the first (they go in in
    order, and the others conflict with it)."""
    key = (event.get("event_id"), event["user_id"])
    if new[key] <= 0:
        return False
    new[key] -= 1
    return True
