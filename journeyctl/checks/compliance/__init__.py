"""Compliance packs (SPEC §7), enabled per project with `compliance: [kr]`.

A pack is a module with a `check(ctx)` for `validate`; the engine side of a pack (such as the
`kr` night rule) lives with the send policy.
"""

from __future__ import annotations

from types import ModuleType

from journeyctl.checks.compliance import kr

PACKS: dict[str, ModuleType] = {"kr": kr}

