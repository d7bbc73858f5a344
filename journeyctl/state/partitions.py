"""Which partition a user's inputs belong to: a stable hash of the user id (the same in every
process, on every machine, in every Python version — unlike `hash()`), modulo the state's
fixed number of partitions. Every input of one user lands in one partition, and one daemon at
a time runs a partition: so one user's inputs still run in order, by one engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def partition_of(user_id: str, count: int) -> int:
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Held:
    """What one daemon runs: the partitions it holds (of `count`), and how many daemons share
    the state. A single-daemon store (SQLite) holds its one partition."""

    parts: tuple[int, ...]
    count: int
    daemons: int
    daemon_id: str = ""


SINGLE = Held((0,), 1, 1)
