"""Leases: which daemon runs which partition (see `journeyctl.state.base.Leases`).

Every expiry is the server's clock (`clock_timestamp()`), the one clock the daemons share: a
daemon's own clock running fast or slow moves no lease. A heartbeat, in one transaction:
says this daemon is alive for a lease more, renews what it holds, and moves it toward its
share — ceil(partitions / daemons alive) — giving back the partitions over it (the highest) or
taking free and lapsed ones (SKIP LOCKED: a lease another daemon is taking, or a batch is
running, is left alone). Daemons heartbeat several times a lease, so they settle on an even
split within a lease or two of one joining, and take a dead one's partitions once its lease
lapses."""

from __future__ import annotations

import math
import os
import socket

from journeyctl.state.partitions import Held
from journeyctl.state.pg_tables import PgTables

FORGET_AFTER = 10  # leases: a daemon's row is deleted this long after its heartbeat lapsed


class LeasesTable(PgTables):
    def heartbeat(self) -> Held:
        conn = self._conn()
        me, lease = self.daemon_id, f"{self.lease} seconds"
        with conn.transaction():
            conn.execute(
                "INSERT INTO daemons (id, host, pid, started_at, expires_at) VALUES (%s, %s, "
                "%s, clock_timestamp(), clock_timestamp() + %s::interval) ON CONFLICT (id) DO "
                "UPDATE SET expires_at = excluded.expires_at",
                [me, socket.gethostname(), os.getpid(), lease])
            conn.execute("DELETE FROM daemons WHERE expires_at < clock_timestamp() - %s * "
                         "%s::interval", [FORGET_AFTER, lease])
            row = conn.execute("SELECT COUNT(*) FROM daemons WHERE expires_at > "
                               "clock_timestamp()").fetchone()
            alive = max(1, int(row[0])) if row else 1
            held = sorted(r[0] for r in conn.execute(
                "UPDATE leases SET expires_at = clock_timestamp() + %s::interval WHERE owner = "
                "%s RETURNING part", [lease, me]))
            share = math.ceil(self._store.partitions / alive)
            if len(held) > share:
                conn.execute("UPDATE leases SET owner = NULL, expires_at = '-infinity' WHERE "
                             "owner = %s AND part = ANY(%s)", [me, held[share:]])
                held = held[:share]
            elif len(held) < share:
                held = sorted(held + [r[0] for r in conn.execute(
                    "UPDATE leases SET owner = %s, expires_at = clock_timestamp() + "
                    "%s::interval, taken = taken + 1 WHERE part IN (SELECT part FROM leases "
                    "WHERE owner IS NULL OR expires_at < clock_timestamp() ORDER BY part "
                    "LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING part",
                    [me, lease, share - len(held)])])
        return Held(tuple(held), self._store.partitions, alive, me)

    def release(self) -> None:
        conn = self._conn()
        with conn.transaction():
            conn.execute("UPDATE leases SET owner = NULL, expires_at = '-infinity' WHERE "
                         "owner = %s", [self.daemon_id])
            conn.execute("UPDATE outbox SET claimed_by = NULL WHERE claimed_by = %s AND "
                         "status = 'pending'", [self.daemon_id])
            conn.execute("DELETE FROM daemons WHERE id = %s", [self.daemon_id])
