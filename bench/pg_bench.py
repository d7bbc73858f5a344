"""What the daemon benchmarks share for a PostgreSQL state: a throwaway server or a given one,
a fresh state on it per run, and the CPU each process used (to see where a run's time went).

`--state postgres` starts a throwaway server (tests.support.postgres.Cluster) set like SQLite's
WAL mode with `synchronous = NORMAL`: crash-safe (`fsync = on`) but a commit does not wait for
its WAL to reach the disk (`synchronous_commit = off`) — the last commits may be lost by a
power cut, as with SQLite. `--pg-setting synchronous_commit=on` measures durable commits.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import Cluster  # noqa: E402

LIKE_SQLITE = {"fsync": "on", "synchronous_commit": "off"}
TICKS = os.sysconf("SC_CLK_TCK")
_schemas = itertools.count()


def settings(pairs: list[str]) -> dict[str, str]:
    """`--pg-setting KEY=VALUE` options over the SQLite-like defaults."""
    chosen = dict(LIKE_SQLITE)
    for pair in pairs:
        key, _, value = pair.partition("=")
        chosen[key.strip()] = value.strip()
    return chosen


class Server:
    """Where PostgreSQL states are made: a throwaway server (`url` None) or a given URL."""

    def __init__(self, url: str | None, pg_settings: dict[str, str]) -> None:
        self.given = url
        self.cluster: Cluster | None = None
        self.made: list[str] = []
        if url is None:
            self.cluster = Cluster(pg_settings)
            self.cluster.start()

    def fresh(self) -> str:
        """The URL of an empty state: a new database on the throwaway server; a new schema
        (`?schema=jcbench_…`, dropped by `close`) on a given server."""
        if self.cluster is not None:
            return self.cluster.new_database()
        assert self.given is not None
        schema = f"jcbench_{os.getpid()}_{next(_schemas)}"
        parts = urlsplit(self.given)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        self.made.append(schema)
        return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))

    def connect(self, url: str) -> Any:
        """A psycopg connection to the state at `url` (its schema first on the path)."""
        import psycopg

        from journeyctl.state.urls import PostgresUrl, parse_state_url

        location = parse_state_url(url, ROOT)
        assert isinstance(location, PostgresUrl)
        conn = psycopg.connect(location.conninfo, autocommit=True, **location.connect_args())
        conn.execute(f'SET search_path TO "{location.schema}"')
        return conn

    def pids(self) -> list[int]:
        """The server's processes (the postmaster and its children), when it is ours."""
        if self.cluster is None:
            return []
        postmaster = int((self.cluster.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.remove()
            return
        assert self.given is not None
        with contextlib.suppress(Exception), self.connect(self.given) as conn:
            for schema in self.made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of these processes, with their waited-for children's: a
    PostgreSQL backend that ended is counted in its postmaster's."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICKS
