"""`journeyctl plan`: what `apply` would change, per journey, with in-flight users."""

from __future__ import annotations

import json
from pathlib import Path

from journeyctl.commands.state_common import print_plan, shown_state, store_for, valid_project
from journeyctl.errors import EXIT_OK
from journeyctl.plan import desired, make_plan, seal, to_markdown
from journeyctl.state import state_path

EXIT_CHANGES = 2


def run(project_path: Path, state_url: str | None, output_format: str, out: Path | None,
        detailed: bool) -> int:
    loaded = valid_project(project_path)
    project = loaded.project
    assert project is not None
    shown = shown_state(project, state_url)
    store = store_for(project, state_url)
    snapshot = store.snapshot()
    store.close()
    absolute = str(state_path(state_url or project.state, project.root).resolve())
    plan = make_plan(desired(project, loaded.docs), snapshot, shown, absolute)
    if out is not None:
        out.write_text(json.dumps(seal(plan), ensure_ascii=False, indent=2) + "\n",
                       encoding="utf-8")
    if output_format == "json":
        print(json.dumps(seal(plan), ensure_ascii=False, indent=2))
    elif output_format == "markdown":
        print(to_markdown(plan), end="")
    else:
        print_plan(plan)
        if out is not None:
            print(f"\nSaved the plan to {out}: journeyctl apply {out}")
    return EXIT_CHANGES if detailed and plan["has_changes"] else EXIT_OK
