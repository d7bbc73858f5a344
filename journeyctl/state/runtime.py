"""The daemon's side of the state store: the inbox, user states, timers and the outbox.

Every engine transition is committed in one transaction with what it produced — the user's new
state, their instances, timers set and cancelled, and the messages to send (the transactional
outbox) — and with the input marked done (the inbox row processed, the timer removed). A crash
before the commit replays the input; after it, nothing is lost or done twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from journeyctl.engine import effects as fx
from journeyctl.engine.interpreter import new_state
from journeyctl.engine.state import UserState, merge_profile
from journeyctl.state import codec
from journeyctl.state.sqlite import SqliteStore
from journeyctl.timefmt import rfc3339


@dataclass(frozen=True)
class InboxRow:
    seq: int
    event_id: str | None
    user_id: str
    name: str
    time: float  # the event's own timestamp
    properties: dict[str, Any]
    received_at: float  # when it arrived: the engine processes it at this time


@dataclass(frozen=True)
class TimerRow:
    id: int
    user_id: str
    key: str
    token: int
    due: float
    set_at: float


@dataclass(frozen=True)
class PendingTick:
    """A schedule tick being delivered to every known user, a page at a time."""

    journey: str
    at: float
    after: str  # the last user id done
    set_at: float  # when it counts as set: the tick before it (see `_next` in the core)


@dataclass(frozen=True)
class Delivery:
    """What became of one outbox message (see `Runtime.record_deliveries`)."""

    row_id: int
    status: str  # sent | failed | expired | pending (to retry at `retry_at`)
    attempts: int
    provider_id: str | None = None
    error: str | None = None
    follow_up: dict[str, Any] | None = None  # the fallback message to send instead
    retry_at: float | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    user_id: str
    journey: str
    step: str
    channel: str
    template: str
    category: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: float


class Runtime:
    """Runtime queries and transitions over an open SQLite store (used from one thread)."""

    def __init__(self, store: SqliteStore) -> None:
        assert store.db is not None, "the daemon needs an applied state"
        self.store = store
        self.db = store.db
        self._batched = False

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several engine transitions (their commits join it)."""
        with self.store.transaction():
            self._batched = True
            try:
                yield
            finally:
                self._batched = False

    def _transaction(self) -> AbstractContextManager[None]:
        return nullcontext() if self._batched else self.store.transaction()

    def serial(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return int(row[0]) if row else 0

    # --- ingest ------------------------------------------------------------------------------

    def ingest(self, batches: list[list[dict[str, Any]]]) -> list[tuple[int, int] | Exception]:
        """Insert events (already validated) in one transaction, duplicates of a known
        `event_id` ignored; per batch, (accepted, duplicates). Each batch (one request) is its
        own savepoint: one that cannot be stored is rolled back alone and gets its exception,
        the others are committed. A failure of the store itself (disk full, read-only,
        locked) fails them all."""
        results: list[tuple[int, int] | Exception] = []
        now = time.time()
        with self.store.transaction():
            for events in batches:
                try:
                    with self.savepoint():
                        results.append(self._insert_events(events, now))
                except sqlite3.OperationalError:
                    raise
                except Exception as exc:
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

    def upsert_profiles(self, profiles: list[dict[str, Any]]) -> int:
        now = time.time()
        with self.store.transaction():
            for profile in profiles:
                attrs = {k: v for k, v in profile.items() if k != "user_id"}
                current = self.profile(profile["user_id"]) or {}
                merge_profile(current, attrs)
                self._save_profile(profile["user_id"], current, now)
        return len(profiles)

    def _save_profile(self, user_id: str, profile: Mapping[str, Any], now: float) -> None:
        data = {k: v for k, v in profile.items() if k != "user_id"}
        self.db.execute("INSERT INTO profiles (user_id, data, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, "
                        "updated_at = excluded.updated_at",
                        [user_id, codec.dumps(data), now])

    # --- work --------------------------------------------------------------------------------

    def next_event(self) -> InboxRow | None:
        while True:
            row = self.db.execute("SELECT seq, event_id, user_id, name, time, properties, "
                                  "received_at FROM inbox WHERE processed_at IS NULL "
                                  "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            try:
                properties = codec.loads(row[5])
            except ValueError as exc:  # unreadable: set aside, or it would block every event
                self._set_aside_row(row, f"unreadable properties: {exc}")
                continue
            return InboxRow(row[0], row[1], row[2], row[3], row[4], properties, row[6])

    def _set_aside_row(self, row: tuple[Any, ...], error: str) -> None:
        with self._transaction():
            self.db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?",
                            [time.time(), row[0]])
            self.db.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                            "('InboxRow', ?, ?, ?, ?)",
                            [row[2], codec.dumps({"seq": row[0], "event_id": row[1],
                                                  "name": row[3], "properties": row[5]}),
                             error, time.time()])

    def next_timer(self, now: float) -> TimerRow | None:
        row = self.db.execute("SELECT id, user_id, key, token, due, set_at FROM timers "
                              "WHERE due <= ? ORDER BY due, set_at, id LIMIT 1",
                              [now]).fetchone()
        return TimerRow(*row) if row else None

    def next_tick(self, now: float) -> PendingTick | None:
        row = self.db.execute("SELECT journey, pending_at, after, COALESCE(set_at, pending_at) "
                              "FROM ticks WHERE pending_at <= ? ORDER BY pending_at, journey "
                              "LIMIT 1", [now]).fetchone()
        return PendingTick(*row) if row else None

    def last_tick(self, journey: str) -> float | None:
        row = self.db.execute("SELECT last_at FROM ticks WHERE journey = ?",
                              [journey]).fetchone()
        return row[0] if row else None

    def start_ticks(self, journey: str, now: float) -> None:
        """A schedule seen for the first time counts its ticks from `now` (none before)."""
        self.db.execute("INSERT OR IGNORE INTO ticks (journey, last_at) VALUES (?, ?)",
                        [journey, now])

    def schedule_tick(self, journey: str, at: float) -> bool:
        """Record that `journey`'s schedule fired at `at` (durably: a restart finishes
        delivering it). A tick no later than the last one recorded is ignored."""
        with self._transaction():
            cursor = self.db.execute(  # (SET reads the row as it was: set_at = the last tick)
                "INSERT INTO ticks (journey, last_at, pending_at, after, set_at) VALUES "
                "(?, ?, ?, '', ?) ON CONFLICT (journey) DO UPDATE SET set_at = ticks.last_at, "
                "last_at = excluded.last_at, pending_at = excluded.pending_at, after = '' "
                "WHERE excluded.last_at > ticks.last_at", [journey, at, at, at])
            return cursor.rowcount > 0

    def tick_progress(self, tick: PendingTick, last_user: str | None) -> None:
        """A page done: carry on after `last_user`, or the tick is finished (None)."""
        if last_user is None:
            self.db.execute("UPDATE ticks SET pending_at = NULL, after = '' WHERE journey = ? "
                            "AND pending_at = ?", [tick.journey, tick.at])
        else:
            self.db.execute("UPDATE ticks SET after = ? WHERE journey = ? AND pending_at = ?",
                            [last_user, tick.journey, tick.at])

    def set_aside(self, work: InboxRow | TimerRow | PendingTick, error: str,
                  user: str | None = None) -> None:
        """Take an input the engine fails on out of the way, keeping it for inspection. For a
        tick, `user` is the one user it failed for (the tick goes on for the others); without
        one, the whole tick is set aside."""
        user = user or getattr(work, "user_id", "")
        with self._transaction():
            if isinstance(work, InboxRow):
                self.db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?",
                                [time.time(), work.seq])
            elif isinstance(work, TimerRow):
                self.db.execute("DELETE FROM timers WHERE id = ?", [work.id])
            elif not user:
                self.tick_progress(work, None)
            self.db.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                            "(?, ?, ?, ?, ?)", [type(work).__name__, user,
                                                codec.dumps(asdict(work)), error, time.time()])

    def pending(self, now: float) -> dict[str, int]:
        """Work waiting in the store, for /metrics and the health check."""
        def count(sql: str, *args: Any) -> int:
            return int(self.db.execute(sql, args).fetchone()[0])

        return {
            "events": count("SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL"),
            "timers": count("SELECT COUNT(*) FROM timers"),
            "timers_due": count("SELECT COUNT(*) FROM timers WHERE due <= ?", now),
            "messages": count("SELECT COUNT(*) FROM outbox WHERE status = 'pending'"),
            "set_aside": count("SELECT COUNT(*) FROM set_aside"),
        }

    def profile(self, user_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM profiles WHERE user_id = ?",
                              [user_id]).fetchone()
        return codec.loads(row[0]) if row else None

    def load_user(self, user_id: str) -> tuple[UserState, int | None]:
        """The user's state — a new one holding their profile if the engine has not seen them
        yet — and the serial of the apply it was last reconciled with (None when new)."""
        profile = self.profile(user_id)
        row = self.db.execute("SELECT state, serial FROM user_state WHERE user_id = ?",
                              [user_id]).fetchone()
        if row is None:
            return new_state(user_id, profile), None
        return codec.decode(row[0], {**(profile or {}), "user_id": user_id}), row[1]

    def instance_position(self, user_id: str, journey: str, number: int
                          ) -> tuple[int, str] | None:
        """(version, step) of an active instance as the store has it: an apply's `migrate:`
        moves it there."""
        row = self.db.execute("SELECT version, step FROM instances WHERE user_id = ? AND "
                              "journey = ? AND number = ? AND status = 'active' AND step IS "
                              "NOT NULL", [user_id, journey, number]).fetchone()
        return (row[0], row[1]) if row else None

    def known_users(self, after: str, limit: int) -> list[str]:
        """Users with a profile or a state, in id order (schedule ticks page through them)."""
        rows = self.db.execute(
            "SELECT user_id FROM profiles WHERE user_id > ? UNION "
            "SELECT user_id FROM user_state WHERE user_id > ? ORDER BY 1 LIMIT ?",
            [after, after, limit])
        return [r[0] for r in rows]

    def commit(self, state: UserState, effects: Iterable[Any], messages: list[dict[str, Any]],
               *, at: float, serial: int, inbox_seq: int | None = None,
               timer: TimerRow | None = None, profile_changed: bool = False) -> None:
        """One engine transition, atomically: the input done, the state, what it produced.
        `at` is the engine's time for it (timers set now count as set then); `serial` the
        apply the state is reconciled with."""
        now = time.time()
        db = self.db
        user = state.user_id
        with self._transaction():
            if inbox_seq is not None:
                db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?", [now, inbox_seq])
            if timer is not None:
                db.execute("DELETE FROM timers WHERE id = ? AND token = ?", [timer.id,
                                                                             timer.token])
            for effect in effects:
                self._effect(user, effect, at, now)
            for message in messages:
                self._insert_message(message, message["time"], now)
            if profile_changed:
                self._save_profile(user, state.profile, now)
            db.execute("INSERT INTO user_state (user_id, state, updated_at, serial) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, "
                       "updated_at = excluded.updated_at, serial = excluded.serial",
                       [user, codec.encode(state), now, serial])

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

    def _effect(self, user: str, effect: Any, at: float, now: float) -> None:
        kind = type(effect)
        db = self.db
        if kind is fx.SetTimer:
            db.execute("INSERT INTO timers (user_id, key, token, due, set_at) VALUES "
                       "(?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET "
                       "token = excluded.token, due = excluded.due, set_at = excluded.set_at",
                       [user, effect.key, effect.token, effect.due, at])
        elif kind is fx.CancelTimer:
            db.execute("DELETE FROM timers WHERE user_id = ? AND key = ?", [user, effect.key])
        elif kind is fx.Entered:
            db.execute("INSERT OR REPLACE INTO instances (user_id, journey, number, version, "
                       "step, status, entered_at, updated_at) VALUES (?, ?, ?, ?, NULL, "
                       "'active', ?, ?)",
                       [user, effect.journey, effect.instance, effect.version, effect.time, now])
        elif kind is fx.StepReached:
            db.execute("UPDATE instances SET step = ?, updated_at = ? WHERE user_id = ? AND "
                       "journey = ? AND number = ?",
                       [effect.step, now, user, effect.journey, effect.instance])
        elif kind is fx.Exited:
            db.execute("UPDATE instances SET status = ?, updated_at = ? WHERE user_id = ? AND "
                       "journey = ? AND number = ?",
                       [effect.reason, now, user, effect.journey, effect.instance])

    # --- the outbox ----------------------------------------------------------------------------

    def due_messages(self, now: float, room: Mapping[str, int], busy: Iterable[int]
                     ) -> list[OutboxRow]:
        """Pending messages due by `now`, oldest first: up to `room[channel]` per channel,
        leaving out the ids in `busy` (being delivered). One indexed query per channel, so a
        channel with a backlog costs the others nothing."""
        busy_ids = codec.dumps(sorted(busy))
        found: list[OutboxRow] = []
        for channel, limit in room.items():
            if limit <= 0:
                continue
            rows = self.db.execute(
                "SELECT id, idempotency_key, user_id, journey, step, channel, template, "
                "category, payload, status, attempts, created_at FROM outbox WHERE status = "
                "'pending' AND channel = ? AND next_attempt_at <= ? AND id NOT IN (SELECT "
                "value FROM json_each(?)) ORDER BY next_attempt_at, id LIMIT ?",
                [channel, now, busy_ids, limit])
            found += [OutboxRow(*r[:8], codec.loads(r[8]), *r[9:]) for r in rows]
        return found

    def record_deliveries(self, deliveries: list[Delivery]) -> list[None]:
        """Delivery outcomes, in one transaction: each row's new status (sent, failed or
        expired — or pending again with a later `retry_at`, when a provider asked to wait
        longer than to retry at once), and the fallback message replacing a failed one."""
        now = time.time()
        with self._transaction():
            for d in deliveries:
                self.db.execute("UPDATE outbox SET status = ?, attempts = attempts + ?, "
                                "provider_id = ?, error = ?, updated_at = ?, "
                                "next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
                                [d.status, d.attempts, d.provider_id, d.error, now, d.retry_at,
                                 d.row_id])
                if d.follow_up is not None:
                    self._insert_message(d.follow_up, now, now)
        return [None] * len(deliveries)

    def _insert_message(self, message: dict[str, Any], due: float, now: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, user_id, journey, step, channel, "
            "template, category, payload, status, attempts, next_attempt_at, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            [message["idempotency_key"], message["user_id"], message["journey"],
             message["step"], message["channel"], message["template"], message["category"],
             codec.dumps(message), due, now, now])

    # --- reads for the API ---------------------------------------------------------------------

    def user_view(self, user_id: str, messages: int = 50) -> dict[str, Any] | None:
        profile = self.profile(user_id)
        instances = self.db.execute(
            "SELECT journey, number, version, step, status, entered_at FROM instances "
            "WHERE user_id = ? ORDER BY entered_at, journey, number", [user_id]).fetchall()
        sent = self.db.execute(
            "SELECT journey, step, channel, template, category, status, attempts, provider_id, "
            "error, created_at, updated_at FROM outbox WHERE user_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?", [user_id, messages]).fetchall()
        if profile is None and not instances and not sent:
            return None
        keys_i = ["journey", "instance", "version", "step", "status", "entered_at"]
        keys_m = ["journey", "step", "channel", "template", "category", "status", "attempts",
                  "provider_id", "error", "created_at", "updated_at"]
        return {"user_id": user_id, "profile": profile or {},
                "instances": [_stamped(dict(zip(keys_i, r, strict=True))) for r in instances],
                "messages": [_stamped(dict(zip(keys_m, r, strict=True))) for r in sent]}

    def live_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """journey -> version -> step -> active instances."""
        counts: dict[str, dict[str, dict[str, int]]] = {}
        for journey, version, step, count in self.db.execute(
                "SELECT journey, version, step, COUNT(*) FROM instances WHERE status = 'active' "
                "GROUP BY journey, version, step"):
            counts.setdefault(journey, {}).setdefault(f"v{version}", {})[step or ""] = count
        return counts


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    """Epoch seconds as RFC 3339 (UTC) for people reading the API."""
    for key in ("entered_at", "created_at", "updated_at"):
        if row.get(key) is not None:
            row[key] = rfc3339(row[key])
    return row
