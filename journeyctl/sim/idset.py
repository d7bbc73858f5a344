"""A set of 64-bit fingerprints in one flat array: duplicate detection for long event logs.

A Python `set` of ints costs about 65 bytes per event id; this costs about 12-16, so a run
over tens of millions of events keeps its seen ids in a few hundred MB instead of gigabytes.
Fingerprints are Python hashes of (user, event id): two different ids colliding in 64 bits is
a chance of about n²/2⁶⁵ — 5 in a million for 14 million ids."""

from __future__ import annotations

import array


class IdSet:
    __slots__ = ("_count", "_mask", "_slots")

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._slots = array.array("q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, fingerprint: int) -> bool:
        """Add; True when it was not there yet (linear probing, 0 marks an empty slot)."""
        value = fingerprint or 1
        slots, mask = self._slots, self._mask
        index = value & mask
        while True:
            found = slots[index]
            if found == 0:
                slots[index] = value
                self._count += 1
                if self._count * 10 > (mask + 1) * 7:
                    self._grow()
                return True
            if found == value:
                return False
            index = (index + 1) & mask

    def _grow(self) -> None:
        old = self._slots
        capacity = (self._mask + 1) * 2
        self._slots = array.array("q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._count = 0
        for value in old:
            if value:
                self.add(value)
