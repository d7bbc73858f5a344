"""The daemon's side of the PostgreSQL store, for several daemons sharing one state: the table
groups together, and the engine's transitions (see `journeyctl.state.base.Runtime`).

Users are split into partitions (`journeyctl.state.partitions`); each daemon runs the inputs
(events, timers, schedule ticks) of the partitions it holds under a lease (`pg_leases`), and
only those (`pg_tables`: fencing). Any daemon ingests events, upserts profiles, sends messages
(`pg_outbox`: claims) and answers reads. As on SQLite, a transition commits in one transaction
with what it produced and its input marked done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from journeyctl.engine import effects as fx
from journeyctl.engine.state import UserState
from journeyctl.state import codec, prune
from journeyctl.state.base import CountRow, TimerRow, split_count
from journeyctl.state.pg_leases import LeasesTable
from journeyctl.state.pg_outbox import OutboxTable
from journeyctl.state.pg_privacy import PrivacyTable
from journeyctl.state.pg_set_aside import SetAsideTable
from journeyctl.state.pg_timers import TimersTable
from journeyctl.state.pg_views import ViewsTable

_PRUNABLE = {what.kind: what for what in prune.PRUNABLE}


class PgRuntime(PrivacyTable, ViewsTable, TimersTable, SetAsideTable, OutboxTable, LeasesTable):
    """Runtime queries and transitions over a PostgreSQL store (used from one thread); one
    daemon among those sharing the state (`daemon_id`, holding partitions for `lease`
    seconds a heartbeat)."""

    def serial(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return int(row[0]) if row else 0

    def touch(self, now: float) -> None:
        self._store.touch(now)

    def close(self) -> None:
        self._store.close()

    # --- pruning (as journeyctl.state.prune walks SQLite) --------------------------------

    def prune(self, kind: str, after: int, cutoff: float) -> tuple[int, int | None]:
        """One window of `kind` (`prune.walk`, the SQLite store's walk, on PostgreSQL)."""
        conn = self._conn()

        def delete(sql: str, args: list[Any]) -> int:
            with conn.transaction():
                return conn.execute(sql, args).rowcount  # type: ignore[arg-type]  # our SQL

        return prune.walk(_PRUNABLE[kind], after, cutoff,
                          lambda sql, args: conn.execute(sql, args).fetchall(),  # type: ignore[arg-type]
                          delete, "%s")

    def release_space(self) -> int:
        """Nothing to do: autovacuum makes the space of deleted rows reusable."""
        return 0

    # --- engine transitions ------------------------------------------------------------------

    def load_user(self, user_id: str, fresh: Callable[[str, dict[str, Any] | None], UserState]
                  ) -> tuple[UserState, int | None]:
        """The user's state — a new one holding their profile if the engine has not seen them
        yet — and the serial of the apply it was last reconciled with (None when new)."""
        row = self._conn().execute(  # one round trip for all three
            "SELECT p.data, s.state, s.serial, x.user_id IS NOT NULL FROM (SELECT %s::text "
            "AS id) AS u LEFT JOIN profiles AS p ON p.user_id = u.id LEFT JOIN user_state AS "
            "s ON s.user_id = u.id LEFT JOIN suppressions AS x ON x.user_id = u.id",
            [user_id]).fetchone()
        assert row is not None
        profile = codec.loads(row[0]) if row[0] is not None else None
        if row[1] is None:
            state, serial = fresh(user_id, profile), None
        else:
            state = codec.decode(row[1], {**(profile or {}), "user_id": user_id})
            serial = row[2]
        state.suppressed = row[3]
        return state, serial

    def instance_position(self, user_id: str, journey: str, number: int
                          ) -> tuple[int, str] | None:
        """(version, step) of an active instance as the store has it: an apply's `migrate:`
        moves it there."""
        row = self._conn().execute(
            "SELECT version, step FROM instances WHERE user_id = %s AND journey = %s AND "
            "number = %s AND status = 'active' AND step IS NOT NULL",
            [user_id, journey, number]).fetchone()
        return (row[0], row[1]) if row else None

    def commit(self, state: UserState, effects: Iterable[Any], messages: list[dict[str, Any]],
               *, at: float, now: float, serial: int, inbox_seq: int | None = None,
               timer: TimerRow | None = None, profile_changed: bool = False) -> None:
        """One engine transition, atomically: the input done, the state, what it produced —
        for a user of a partition the batch holds (`LeaseLost` otherwise)."""
        user = state.user_id
        part = self._fenced(user)
        effects = list(effects)
        conn = self._conn()
        # its statements go to the server together, in one round trip (psycopg's pipeline
        # mode): none needs another's answer (a profile change's read waits for its own)
        with self._transaction(), conn.pipeline():
            if inbox_seq is not None and not self._batched:  # (a batch: as it ends, `_flush`)
                conn.execute("UPDATE inbox SET processed_at = %s WHERE seq = %s",
                             [now, inbox_seq])
            if timer is not None:
                conn.execute("DELETE FROM timers WHERE id = %s AND token = %s",
                             [timer.id, timer.token])
            for effect in effects:
                self._effect(user, part, effect, at, now)
            for message in messages:
                self._insert_message(message, message["time"], now)
            if profile_changed:
                self._update_profile(user, effects, now)
            conn.execute("INSERT INTO user_state (user_id, part, state, updated_at, serial) "
                         "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET "
                         "state = excluded.state, updated_at = excluded.updated_at, "
                         "serial = excluded.serial",
                         [user, part, codec.encode(state), now, serial])
        self._note(effects, inbox_seq, now)

    def add_counts(self, rows: list[CountRow]) -> None:
        """Added to this daemon's own rows (`slot`: the first partition the batch holds, no
        other daemon's while it does), in key order: two batches never wait on each other's
        rows, nor lock them in opposite orders."""
        if not rows:
            return
        slot = min(self._batch_parts) if self._batch_parts else 0
        rows = sorted(rows, key=lambda r: (r.hour, r.version, r.path))
        values = [split_count(r.value) for r in rows]
        with self._transaction():
            self._conn().execute(
                "INSERT INTO report_counts (hour, slot, version, path, count, amount) "
                "SELECT x.hour, %s, x.version, x.path, x.count, x.amount FROM unnest("
                "%s::bigint[], %s::int[], %s::text[], %s::bigint[], %s::float8[]) AS "
                "x(hour, version, path, count, amount) ON CONFLICT (hour, slot, version, path) "
                "DO UPDATE SET count = report_counts.count + excluded.count, "
                "amount = report_counts.amount + excluded.amount",
                [slot, [r.hour for r in rows], [r.version for r in rows],
                 [r.path for r in rows], [v[0] for v in values], [v[1] for v in values]])

    def _note(self, effects: list[Any], inbox_seq: int | None, now: float) -> None:
        """What the batch knows of its pending inputs, after a transition wrote (see
        `BatchCache`; last, so that a transition that failed changes none of it): its event
        done (to mark processed as the batch ends); no timer due before the ones it set."""
        cache = self._cache
        if inbox_seq is not None:
            cache.done.add(inbox_seq)
            if self._batched:
                cache.processed[inbox_seq] = now
        for effect in effects:
            if type(effect) is fx.SetTimer:
                cache.timers_after = min(cache.timers_after, effect.due)

    def _effect(self, user: str, part: int, effect: Any, at: float, now: float) -> None:
        kind = type(effect)
        conn = self._conn()
        if kind is fx.SetTimer:
            conn.execute("INSERT INTO timers (user_id, part, key, token, due, set_at) VALUES "
                         "(%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO UPDATE SET "
                         "token = excluded.token, due = excluded.due, set_at = excluded.set_at",
                         [user, part, effect.key, effect.token, effect.due, at])
        elif kind is fx.CancelTimer:
            conn.execute("DELETE FROM timers WHERE user_id = %s AND key = %s",
                         [user, effect.key])
        elif kind is fx.Entered:
            conn.execute("INSERT INTO instances (user_id, journey, number, version, step, "
                         "status, entered_at, updated_at) VALUES (%s, %s, %s, %s, NULL, "
                         "'active', %s, %s) ON CONFLICT (user_id, journey, number) DO UPDATE "
                         "SET version = excluded.version, step = NULL, status = 'active', "
                         "entered_at = excluded.entered_at, updated_at = excluded.updated_at",
                         [user, effect.journey, effect.instance, effect.version, effect.time,
                          now])
        elif kind is fx.InstanceMoved:  # identity merge: another user's instance joined
            conn.execute("INSERT INTO instances (user_id, journey, number, version, step, "
                         "status, entered_at, updated_at) VALUES (%s, %s, %s, %s, %s, "
                         "'active', %s, %s) ON CONFLICT (user_id, journey, number) DO UPDATE "
                         "SET version = excluded.version, step = excluded.step, "
                         "status = 'active', entered_at = excluded.entered_at, "
                         "updated_at = excluded.updated_at",
                         [user, effect.journey, effect.instance, effect.version, effect.step,
                          effect.entered_at, now])
        elif kind is fx.StepReached:
            conn.execute("UPDATE instances SET step = %s, updated_at = %s WHERE user_id = %s "
                         "AND journey = %s AND number = %s",
                         [effect.step, now, user, effect.journey, effect.instance])
        elif kind is fx.Exited:
            conn.execute("UPDATE instances SET status = %s, updated_at = %s WHERE user_id = %s "
                         "AND journey = %s AND number = %s",
                         [effect.reason, now, user, effect.journey, effect.instance])
