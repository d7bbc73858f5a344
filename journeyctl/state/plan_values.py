"""What a plan holds, as values: the changes `apply` records and the state store writes. They
live beside the stores (below `journeyctl.plan`, which makes them) so that a store can take a
`Plan` without importing the planner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(content: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(content).encode()).hexdigest()


Action = Literal["create", "update", "delete", "no-op"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "no-op")


@dataclass(frozen=True)
class PlanState:
    """The state a plan was made against: how messages name it (`path`), where it is
    (`file`), its lineage and serial then, and the --state that chose it (`url`; None: the
    project's `state:`)."""

    path: str
    file: str
    lineage: str  # "": there was no state yet
    serial: int
    url: str | None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "file": self.file, "lineage": self.lineage,
                "serial": self.serial, "url": self.url}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanState:
        # plan format 1 did not record the --state: the file names it
        url = data["url"] if "url" in data else "sqlite:///" + data["file"]
        return cls(data["path"], data["file"], data["lineage"], data["serial"], url)


@dataclass(frozen=True)
class Target:
    """Where in-flight instances go (`migrate:`): this version, at this step."""

    version: int
    step: str


@dataclass(frozen=True)
class Inflight:
    """Active instances at one step of one version that a change touches."""

    version: int
    step: str | None
    count: int
    removed: bool  # the step is removed by the change
    goes_to: Target | None  # None: they finish on their version

    def to_json(self) -> dict[str, Any]:
        goes_to = None if self.goes_to is None else {"version": self.goes_to.version,
                                                     "step": self.goes_to.step}
        return {"version": self.version, "step": self.step, "count": self.count,
                "removed": self.removed, "goes_to": goes_to}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inflight:
        target = data["goes_to"]
        return cls(data["version"], data["step"], data["count"], data["removed"],
                   Target(target["version"], target["step"]) if target else None)


@dataclass(frozen=True)
class Change:
    """What happens to one journey. `content` (not for a no-op) is what is recorded as its
    new version; `diff` (an update's) is for people, as `journey_diff` makes it."""

    journey: str
    action: Action
    from_version: int | None
    to_version: int
    hash: str
    content: Mapping[str, Any] | None = None
    diff: Mapping[str, Any] | None = None
    inflight: tuple[Inflight, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"journey": self.journey, "from_version": self.from_version,
                               "to_version": self.to_version, "action": self.action,
                               "hash": self.hash}
        if self.diff is not None:
            out["diff"] = self.diff
        if self.content is not None:
            out["content"] = self.content
        out["inflight"] = [group.to_json() for group in self.inflight]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(data["journey"], data["action"], data["from_version"], data["to_version"],
                   data["hash"], data.get("content"), data.get("diff"),
                   tuple(Inflight.from_json(g) for g in data.get("inflight", [])))


@dataclass(frozen=True)
class SettingsChange:
    """What happens to the project's settings, catalog and channels (versioned together)."""

    action: Action
    from_version: int | None
    to_version: int
    hash: str
    changed: tuple[Mapping[str, Any], ...]  # the changed fields, for people
    content: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "from_version": self.from_version,
                "to_version": self.to_version, "hash": self.hash,
                "changed": list(self.changed), "content": self.content}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SettingsChange:
        return cls(data["action"], data["from_version"], data["to_version"], data["hash"],
                   tuple(data["changed"]), data["content"])


@dataclass(frozen=True)
class Plan:
    schema_version: int
    project: str
    state: PlanState
    created_at: str
    changes: tuple[Change, ...]
    settings: SettingsChange
    summary: Mapping[str, int]  # action -> journeys
    has_changes: bool
    # where the content came from: {"root", "commit", "author", "dirty"} (see commands)
    source: Mapping[str, Any] | None = None

    def with_source(self, source: Mapping[str, Any]) -> Plan:
        return replace(self, source=source)

    def to_json(self) -> dict[str, Any]:
        """The plan as `plan --json` prints it and `--out` saves it (with a checksum)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version, "project": self.project,
            "state": self.state.to_json(), "created_at": self.created_at,
            "changes": [change.to_json() for change in self.changes],
            "settings": self.settings.to_json(), "summary": dict(self.summary),
            "has_changes": self.has_changes}
        if self.source is not None:
            out["source"] = self.source
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """A plan read back (already checked against its schema by `unseal`)."""
        return cls(data["schema_version"], data["project"], PlanState.from_json(data["state"]),
                   data["created_at"], tuple(Change.from_json(c) for c in data["changes"]),
                   SettingsChange.from_json(data["settings"]), data["summary"],
                   data["has_changes"], data.get("source"))
