"""The inbox on PostgreSQL: events as they arrived, each processed once, by the daemon holding
its user's partition (see `journeyctl.state.base.Inbox`).

Any daemon ingests any event. Ingest locks the `partitions` rows of the partitions it adds to
(in partition order: two ingests never deadlock) for its transaction, so within a partition
events are committed in `seq` order, and stamps them no earlier than the partition's last
arrival: a partition's `received_at` never goes back, even when the daemons' clocks disagree.
The engine runs a partition's events in (received_at, seq) order — their arrival order."""

from __future__ import annotations

from collections import Counter
from typing import Any

from journeyctl.state import codec
from journeyctl.state.base import InboxRow
from journeyctl.state.failures import is_store_failure
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg_tables import PgTables

_INSERT = (
    "INSERT INTO inbox (event_id, user_id, part, name, time, properties, received_at) "
    "SELECT e, u, p, n, t, b, r FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], "
    "%s::float8[], %s::bytea[], %s::float8[]) WITH ORDINALITY AS x(e, u, p, n, t, b, r, i) "
    "ORDER BY i ON CONFLICT (event_id, user_id) DO NOTHING RETURNING event_id, user_id")
# the earliest pending event of each partition held (one index probe each), then the earliest
_NEXT = (
    "SELECT i.seq, i.event_id, i.user_id, i.name, i.time, i.properties, i.received_at "
    "FROM unnest(%s::int[]) AS h(part) CROSS JOIN LATERAL (SELECT * FROM inbox WHERE "
    "part = h.part AND processed_at IS NULL ORDER BY received_at, seq LIMIT 1) AS i "
    "ORDER BY i.received_at, i.seq LIMIT 1")


class InboxTable(PgTables):
    def ingest(self, batches: list[list[dict[str, Any]]], now: float
               ) -> list[tuple[int, int] | Exception]:
        """Insert events (already validated) in one transaction, duplicates of a known
        `event_id` ignored; per batch, (accepted, duplicates). All batches go in one statement;
        if that fails for the data of one, each batch is tried again in its own savepoint: the
        one that cannot be stored gets its exception, the others are committed. A failure of
        the store itself (the server gone, a full disk) fails them all."""
        count = self._store.partitions
        parts = [[partition_of(e["user_id"], count) for e in events] for events in batches]
        conn = self._conn()
        with conn.transaction():
            received = {part: max(now, last) for part, last in conn.execute(
                "SELECT part, received FROM partitions WHERE part = ANY(%s) ORDER BY part "
                "FOR UPDATE", [sorted({p for ps in parts for p in ps})])}
            try:
                with conn.transaction():
                    new = self._insert([e for es in batches for e in es],
                                       [p for ps in parts for p in ps], received)
                results: list[tuple[int, int] | Exception] = []
                for events in batches:
                    accepted = sum(_was_new(e, new) for e in events)
                    results.append((accepted, len(events) - accepted))
            except Exception as exc:
                if is_store_failure(exc):
                    raise
                results = [self._insert_batch(es, ps, received)
                           for es, ps in zip(batches, parts, strict=True)]
            conn.execute("UPDATE partitions SET received = r FROM unnest(%s::int[], "
                         "%s::float8[]) AS x(p, r) WHERE part = p AND received < r",
                         [list(received), list(received.values())])
        return results

    def next_event(self, now: float) -> InboxRow | None:
        """The earliest unprocessed event of the partitions held."""
        while True:
            row = self._conn().execute(_NEXT, [self._held()]).fetchone()
            if row is None:
                return None
            try:
                properties = codec.loads(row[5])
            except ValueError as exc:  # unreadable: set aside, or it would block every event
                self._set_aside_row(row, f"unreadable properties: {exc}", now)
                continue
            return InboxRow(row[0], row[1], row[2], row[3], row[4], properties, row[6])

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

    def _insert_batch(self, events: list[dict[str, Any]], parts: list[int],
                      received: dict[int, float]) -> tuple[int, int] | Exception:
        try:
            with self.savepoint():
                accepted = sum(self._insert(events, parts, received).values())
        except Exception as exc:
            if is_store_failure(exc):
                raise
            return exc
        return accepted, len(events) - accepted

    def _insert(self, events: list[dict[str, Any]], parts: list[int],
                received: dict[int, float]) -> Counter[tuple[str | None, str]]:
        """Insert `events` in their order, in one statement however many; the (event_id,
        user_id) of those that were new, counted (every event without an id is new)."""
        if not events:
            return Counter()
        cursor = self._conn().execute(_INSERT, [
            [e.get("event_id") for e in events], [e["user_id"] for e in events], parts,
            [e["event"] for e in events], [e["time"] for e in events],
            [codec.dumps(e.get("properties") or {}) for e in events],
            [received[p] for p in parts]])
        return Counter(cursor)


def _was_new(event: dict[str, Any], new: Counter[tuple[str | None, str]]) -> bool:
    """Whether `event` was inserted: of the events with one id, the first (they go in in
    order, and the others conflict with it)."""
    key = (event.get("event_id"), event["user_id"])
    if new[key] <= 0:
        return False
    new[key] -= 1
    return True
