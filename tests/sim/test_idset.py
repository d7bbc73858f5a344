"""The compact fingerprint set behind duplicate detection."""

from __future__ import annotations

import random

from journeyctl.sim.idset import IdSet


def test_behaves_like_a_set_through_growth() -> None:
    rng = random.Random(1)
    values = [rng.getrandbits(64) - (1 << 63) for _ in range(50_000)] + [0, 0, 1]
    ids, reference = IdSet(capacity=8), set()
    for value in values:
        key = value or 1  # 0 is stored as 1
        assert ids.add(value) is (key not in reference)
        reference.add(key)
    assert len(ids) == len(reference)
    assert all(not ids.add(value) for value in values)
