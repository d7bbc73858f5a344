"""The layer map of docs/architecture.md, held by a test: every import of every module of
journeyctl/ and channel_adapters/ (those inside functions and under TYPE_CHECKING too) must
point to a lower layer, or stay inside its own unit. An upward or sideways edge fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. A unit is a module or a package (with everything below it); a unit may import
# units of lower rows only (and itself). Two units of one row never import each other.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("journeyctl", "journeyctl.diagnostics", "journeyctl.hints",
                    "journeyctl.celref", "journeyctl.liquid_limits", "journeyctl.fielddiff",
                    "journeyctl.gitinfo", "journeyctl.timefmt")),
    ("model", ("journeyctl.model", "journeyctl.celenv", "journeyctl.paths",
               "journeyctl.yamlload")),
    ("model helpers", ("journeyctl.timeparse", "journeyctl.scope", "journeyctl.flow",
                       "journeyctl.celcost", "journeyctl.schema",
                       "journeyctl.diagnostics_render")),
    ("adapters", ("channel_adapters", "journeyctl.cron", "journeyctl.graph")),
    ("load", ("journeyctl.build", "journeyctl.liquid_env", "journeyctl.scaffold")),
    ("checks", ("journeyctl.checks", "journeyctl.schemagen")),
    ("project", ("journeyctl.project",)),
    ("engine", ("journeyctl.engine", "journeyctl.messages")),
    ("records", ("journeyctl.records",)),
    ("state", ("journeyctl.state",)),
    ("plan", ("journeyctl.plan",)),
    ("simulator", ("journeyctl.sim",)),
    ("live report", ("journeyctl.live",)),
    ("daemon", ("journeyctl.daemon",)),
    ("test host", ("journeyctl.testing", "journeyctl.experiments")),
    ("cli boundary", ("journeyctl.boundary",)),
    ("commands", ("journeyctl.commands",)),
    ("cli", ("journeyctl.cli",)),
    ("entry point", ("journeyctl.__main__",)),
]

RANK = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}
OURS = ("journeyctl", "channel_adapters")
# Libraries the pure core never imports (SPEC; docs/architecture.md): no I/O, no CLI.
CORE = ("journeyctl.engine", "journeyctl.model", "journeyctl.records")
NOT_IN_CORE = ("rich", "typer", "httpx", "sqlite3", "psycopg", "uvicorn", "starlette",
               "channel_adapters")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """The longest unit of the table that is `module` or holds it (the `journeyctl` unit is
    its __init__ only: every other module of the package has a row of its own)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        name = ".".join(parts[:end])
        if name in RANK:
            return name
    return parts[0] if parts[0] in RANK and (len(parts) == 1 or parts[0] != "journeyctl") \
        else None


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, wherever it is written."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from journeyctl import model` imports a module
                name = f"{base}.{alias.name}"
                found.append((node.lineno, name if is_module(name) else base))
    return found


def sources() -> list[Path]:
    return sorted(p for top in OURS for p in (ROOT / top).rglob("*.py"))


def edges_breaking_layers(path: Path) -> list[str]:
    source = module_name(path)
    here = unit_of(source)
    problems = []
    for line, target in imports(path):
        if not target.startswith(OURS):
            if source.startswith(CORE) and target.split(".")[0] in NOT_IN_CORE:
                problems.append(f"{path.name}:{line}: the core imports {target}")
            continue
        there = unit_of(target)
        if there is None or here is None or there == here:
            continue
        if RANK[there] >= RANK[here]:
            way = "sideways" if RANK[there] == RANK[here] else "upward"
            problems.append(f"{source}:{line} imports {target} ({way}: "
                            f"{LAYERS[RANK[here]][0]} -> {LAYERS[RANK[there]][0]})")
        elif source.startswith(CORE) and target.split(".")[0] in NOT_IN_CORE:
            problems.append(f"{source}:{line}: the core imports {target}")
    return problems


def test_every_module_has_a_layer() -> None:
    missing = [module_name(p) for p in sources() if unit_of(module_name(p)) is None]
    assert not missing, f"add these to LAYERS and docs/architecture.md: {missing}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    assert edges_breaking_layers(path) == []


def test_the_layers_are_the_ones_documented() -> None:
    """docs/architecture.md lists the same rows, in the same order, with the same units."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    documented = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[0].isdigit():
            units = tuple(u.strip("` ") for u in cells[2].split(","))
            documented.append((cells[1], units))
    assert documented == LAYERS


def test_an_upward_edge_is_caught(tmp_path: Path) -> None:
    """The walk sees imports inside functions and under TYPE_CHECKING, and names the edge."""
    daemon = ROOT / "journeyctl" / "daemon" / "core.py"
    assert not edges_breaking_layers(daemon)
    fake = ROOT / "journeyctl" / "checks" / "_layer_probe.py"
    fake.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from journeyctl import schemagen\n"
                    "def f():\n    from journeyctl.commands import common\n", encoding="utf-8")
    try:
        problems = edges_breaking_layers(fake)
    finally:
        fake.unlink()
    assert problems == [
        "journeyctl.checks._layer_probe:3 imports journeyctl.schemagen "
        "(sideways: checks -> checks)",
        "journeyctl.checks._layer_probe:5 imports journeyctl.commands.common "
        "(upward: checks -> commands)",
    ]


def test_the_daemon_knows_no_store_by_name() -> None:
    """The daemon depends on the state's Protocols (docs/architecture.md, "To add a state
    store"): no SQLite or PostgreSQL module, ours or a library's, is imported under daemon/."""
    named = [f"{path.name}:{line} imports {target}"
             for path in (ROOT / "journeyctl" / "daemon").glob("*.py")
             for line, target in imports(path)
             if target in ("sqlite3", "psycopg") or target.startswith(
                 ("journeyctl.state.sqlite", "journeyctl.state.pg", "psycopg."))]
    assert named == []
