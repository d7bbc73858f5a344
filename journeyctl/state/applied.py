"""What the daemon runs: the journey versions applied to the state, as model objects.

The daemon never reads the project files: it runs what `apply` recorded — the latest version of
each journey for new entries, and the older versions that instances are still on, each with
the templates and snippets it was applied with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from journeyctl import build
from journeyctl import model as m
from journeyctl.diagnostics import Collector
from journeyctl.state.base import Store
from journeyctl.yamlload import Doc


@dataclass(frozen=True)
class Applied:
    serial: int
    project: m.Project  # settings, catalog, channels, and the latest journey versions
    versions: dict[str, int]  # journey -> latest version
    older: list[tuple[m.Journey, int]]  # versions that instances are still on
    templates: dict[tuple[str, int], dict[str, m.Template]]  # (journey, version) -> templates
    # (journey, version) -> snippet name -> source, what its templates render with
    snippets: dict[tuple[str, int], m.FrozenMap]


class AppliedError(RuntimeError):
    """Applied content that no longer builds (it was valid when applied): a bug."""


def _doc(name: str, data: Any) -> Doc:
    return Doc(f"state:{name}", "", data, {}, {})


def _journey(journey_id: str, version: int, content: dict[str, Any], out: Collector
             ) -> tuple[m.Journey, dict[str, m.Template], m.FrozenMap]:
    journey = build.build_journey(_doc(f"{journey_id}@v{version}", content["journey"]), out)
    if journey.broken:
        raise AppliedError(f"journey {journey_id} v{version} in the state does not build: "
                           f"{[d.message for d in out.items]}")
    templates = {name: build.build_template(_doc(f"{journey_id}@v{version}/{name}", doc), name,
                                            out)
                 for name, doc in content.get("templates", {}).items()}
    return journey, templates, m.FrozenMap(content.get("snippets", {}))


def load_applied(store: Store) -> Applied | None:
    """None when nothing has been applied yet."""
    snapshot = store.snapshot()
    if not snapshot.settings:
        return None
    out = Collector()
    settings = snapshot.settings
    project = build.build_project(_doc("settings", settings["project"]), Path("."), out)
    catalog = build.build_catalog(_doc("events", settings["events"]), out)
    channels = build.build_channels(_doc("channels", settings["channels"]), out)
    journeys, templates, snippets, versions = [], {}, {}, {}
    every_template: dict[str, m.Template] = {}
    for journey_id, applied in snapshot.journeys.items():
        if applied.status == "deleted":
            continue
        journey, own, partials = _journey(journey_id, applied.version, dict(applied.content),
                                          out)
        journeys.append(journey)
        versions[journey_id] = applied.version
        templates[(journey_id, applied.version)] = own
        snippets[(journey_id, applied.version)] = partials
        every_template.update(own)
    older = []
    for journey_id, version in sorted({(j, v) for j, v, _ in snapshot.inflight}):
        if versions.get(journey_id) == version:
            continue
        record = store.version(journey_id, version)
        if record is None:
            continue
        journey, own, partials = _journey(journey_id, version, dict(record.content), out)
        older.append((journey, version))
        templates[(journey_id, version)] = own
        snippets[(journey_id, version)] = partials
    project = replace(project, catalog=catalog, channels=channels, journeys=tuple(journeys),
                      templates=m.FrozenMap(every_template))
    return Applied(snapshot.serial, project, versions, older, templates, snippets)
