"""Paths of project files: how messages show them, and that they stay inside the project.

In CI a pull request controls journeyctl.yaml and every file below it. A path setting such as
`events: /proc/self/environ`, or a template that is a symbolic link to `/etc/shadow`, would
make `validate` print what it read there (a YAML error quotes the offending line). So every
path a project names must lead inside the project folder once its links are followed; one that
does not is a located error, and what it leads to is never opened. Links that stay inside the
project are fine; links to folders are not followed while a folder is searched (as
`Path.rglob` does on Python 3.11).
"""

from __future__ import annotations

import os
from pathlib import Path

from journeyctl.diagnostics import Diagnostic, Loc, diagnostic


def display_path(path: Path) -> str:
    """Paths in messages: relative to the working directory when below it (as CI expects)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def real(path: Path) -> Path:
    """`path` with every link followed; a link loop stays where it loops (never an error here:
    a loop cannot be opened either, and is reported as the file it is)."""
    return Path(os.path.realpath(path))


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, its links followed, is the project folder `root` or below it."""
    return real(path).is_relative_to(real(root))


def setting_problem(root: Path, key: str, value: str, loc: Loc,
                    example: str) -> Diagnostic | None:
    """What is wrong with `key: value`, a path setting in journeyctl.yaml located at `loc`,
    or None when it leads inside the project. Nothing is opened to tell."""
    hint = (f"write a path relative to the project folder, inside it (e.g. `{key}: {example}`); "
            "copy what it should name into the project")
    if os.path.isabs(value):
        return diagnostic("JC905", f"`{key}:` names an absolute path, {value}: project files "
                          "must be inside the project folder", loc, hint)
    if os.path.normpath(value).split(os.sep)[0] == os.pardir:
        return diagnostic("JC905", f"`{key}:` names {value}, which leads out of the project "
                          "folder", loc, hint)
    path = root / value
    if inside(root, path):
        return None
    link = _first_out(root, Path(value).parts)
    if link.is_symlink():
        return link_problem(link)
    return diagnostic("JC905", f"`{key}:` names {value}, which leads out of the project folder",
                      loc, hint)


def _first_out(root: Path, parts: tuple[str, ...]) -> Path:
    """The first of `root/a`, `root/a/b`, ... that leads outside `root`: the link to blame."""
    path = root
    for part in parts:
        path = path / part
        if not inside(root, path):
            break
    return path


def link_problem(link: Path) -> Diagnostic:
    """`link` leads out of the project: located at the link itself, which is never read (the
    renderer shows no source line for JC906). `link` may also be a path through a linked
    folder (a file named on the command line), then named with where it leads."""
    shown = display_path(link)
    what = "folder" if link.is_dir() else "file"
    how = f"a symbolic link to {os.readlink(link)}" if link.is_symlink() else \
        f"leads through a symbolic link to {real(link)}"
    return diagnostic("JC906", f"{how}, outside the project folder: it is not read", Loc(shown),
                      f"copy the {what} into the project folder, or point the link inside it")


def named_problem(root: Path, path: Path) -> Diagnostic | None:
    """A file named on the command line may be anywhere; but one named below the project
    folder `root` that leads out of it through a link is refused as a project file would be:
    in CI the command line is fixed, and the file is a pull request's."""
    named = Path(os.path.abspath(path))
    base = next((b for b in (Path(os.path.abspath(root)), real(root))
                 if named.is_relative_to(b)), None)
    if base is None or inside(root, path):
        return None
    link = _first_out(base, named.relative_to(base).parts)
    return link_problem(link if link.is_symlink() else path)


def input_problem(root: Path, path: Path) -> Diagnostic | None:
    """`named_problem` for an input file named on the command line (`simulate --events`,
    `send-test --profile`): refused when, named below the project folder or below the working
    folder (in CI: the checkout, a pull request's), it leads out of that folder through a link
    — its lines would be shown in errors, or sent."""
    return named_problem(root, path) or named_problem(Path.cwd(), path)


def files_below(root: Path, folder: Path, suffixes: tuple[str, ...]) -> tuple[list[Path],
                                                                               list[Path]]:
    """The files below `folder` (recursively) whose names end in one of `suffixes`, in order;
    and the links among them, and the links to folders, that lead out of the project `root`
    (see `link_problem`). Linked folders are not searched, wherever they lead."""
    files, outside = [], []
    for here, folders, names in os.walk(folder):  # never follows links to folders
        base = Path(here)
        links = [base / name for name in folders if (base / name).is_symlink()]
        outside += [link for link in links if not inside(root, link)]
        for path in (base / name for name in names if Path(name).suffix in suffixes):
            if not inside(root, path):
                outside.append(path)
            elif path.is_file():
                files.append(path)
    return sorted(files), sorted(outside)
