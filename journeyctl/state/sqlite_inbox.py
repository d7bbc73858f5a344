"""The inbox: events as they arrived, each processed once (see `journeyctl.state.base.Inbox`)."""

from __future__ import annotations

from typing import Any

from journeyctl.state import codec
from journeyctl.state.base import InboxRow
from journeyctl.state.failures import is_store_failure
from journeyctl.state.sqlite_tables import SqliteTables


class InboxTable(SqliteTables):
    def ingest(self, batches: list[list[dict[str, Any]]], now: float
               ) -> list[tuple[int, int] | Exception]:
        """Insert events (already validated) in one transaction, duplicates of a known
        `event_id` ignored; per batch, (accepted, duplicates). Each batch (one request) is its
        own savepoint: one that cannot be stored is rolled back alone and gets its exception,
        the others are committed. A failure of the store itself (disk full, read-only,
        locked) fails them all."""
        results: list[tuple[int, int] | Exception] = []
        with self._store.transaction():
            for events in batches:
                try:
                    with self.savepoint():
                        results.append(self._insert_events(events, now))
                except Exception as exc:
                    if is_store_failure(exc):
                        raise
                    results.append(exc)
        return results

    def _insert_events(self, events: list[dict[str, Any]], now: float) -> tuple[int, int]:
        accepted = 0
        for event in events:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO inbox (event_id, user_id, name, time, properties, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?)",
                [event.get("event_id"), event["user_id"], event["event"], event["time"],
                 codec.dumps(event.get("properties") or {}), now])
            accepted += cursor.rowcount
        return accepted, len(events) - accepted

    def next_event(self, now: float) -> InboxRow | None:
        while True:
            row = self.db.execute("SELECT seq, event_id, user_id, name, time, properties, "
                                  "received_at FROM inbox WHERE processed_at IS NULL "
                                  "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            try:
                properties = codec.loads(row[5])
            except ValueError as exc:  # unreadable: set aside, or it would block every event
                self._set_aside_row(row, f"unreadable properties: {exc}", now)
                continue
            return InboxRow(row[0], row[1], row[2], row[3], row[4], properties, row[6])

    def _set_aside_row(self, row: tuple[Any, ...], error: str, now: float) -> None:
        with self._transaction():
            self.db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?", [now, row[0]])
            self.db.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                            "('InboxRow', ?, ?, ?, ?)",
                            [row[2], codec.dumps({"seq": row[0], "event_id": row[1],
                                                  "name": row[3], "properties": row[5]}),
                             error, now])
