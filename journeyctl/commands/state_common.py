"""What the state commands share: a validated project, where its state is, the store, plans on
the terminal, and apply's confirm-then-apply step."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeyctl.commands import common
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.gitinfo import git_info
from journeyctl.hints import close_path, command
from journeyctl.model import Project
from journeyctl.plan import Plan, to_text
from journeyctl.project import SNIPPET_SUFFIX, YAML_SUFFIXES, Loaded, display_path
from journeyctl.state import open_store, parse_state_url
from journeyctl.state.base import (
    ApplyMeta,
    LockedError,
    Snapshot,
    StateError,
    Store,
    project_conflict,
)
from journeyctl.state.urls import ENV_VARIABLE, StateLocation


@dataclass(frozen=True)
class Given:
    """The project folder and `--state` as the user gave them, so that a hint's command acts
    on the same project and state when pasted in the same directory."""

    project: Path = Path(".")
    state: str | None = None

    def args(self, as_option: bool = False) -> list[str]:
        """The project (after `--project` when the command takes it as an option; left out
        when it is the current folder), then `--state`."""
        words = [] if self.project == Path(".") else [*(["--project"] if as_option else []),
                                                      str(self.project)]
        return words + self.state_args()

    def state_args(self) -> list[str]:
        """`--state URL` when the user gave it, else nothing."""
        return ["--state", self.state] if self.state is not None else []


def valid_project(path: Path) -> Loaded:
    """The project, validated; any error stops here, before the state is touched."""
    return common.valid_project(path, "nothing was planned or applied")


@dataclass(frozen=True)
class StateRef:
    """A command's state, resolved once: from `--state`, else $JOURNEYCTL_STATE, else `state:`
    in journeyctl.yaml (a file relative to the project)."""

    location: StateLocation  # a file (absolute), or a PostgreSQL database and schema
    shown: str  # as messages name it (a URL without its password)
    origin: Loc  # where it was chosen: the --state option, the JOURNEYCTL_STATE variable,
    # `state:` in journeyctl.yaml, or (the built-in default) the state itself
    given: Given = Given()  # how hints name the project and the state

    def open(self, create: bool = False, readonly: bool = False) -> Store:
        return open_store(self.location, create=create, readonly=readonly, shown=self.shown)

    @property
    def path(self) -> str:
        """Where the state is, as a plan records it: the file's absolute path, or the URL
        without a password written in it."""
        return str(self.location) if isinstance(self.location, Path) else \
            self.location.recorded

    def require(self, store: Store) -> Store:
        """`store`, when there is a state there; JC969 otherwise."""
        if not store.exists:
            store.close()
            raise StateError("JC969", f"there is no state at {self.shown} yet",
                             f"apply the project to create it: "
                             f"{command('apply', *self.given.args())}", self.shown)
        return store

    @contextmanager
    def locked(self, store: Store, operation: str, timeout: float) -> Iterator[None]:
        """`store.locked`, with a JC962/JC963 hint whose force-unlock names this project and
        state."""
        with ExitStack() as stack:
            try:
                stack.enter_context(store.locked(operation, timeout))
            except LockedError as exc:
                unlock = command("force-unlock", exc.holder.lock_id,
                                 *self.given.args(as_option=True))
                raise exc.retold(unlock) from None
            yield


def environment_state() -> str | None:
    """$JOURNEYCTL_STATE, when set (an empty value is unset)."""
    return os.environ.get(ENV_VARIABLE, "").strip() or None


def resolve_state(url: str | None, default: str, root: Path, origin: Loc | None,
                  given: Given | None = None) -> StateRef:
    """`url` (from --state), else $JOURNEYCTL_STATE, else `default` (given at `origin`; None:
    the built-in default), relative to `root`. Only the variable's URL may hold a password: it
    is in no file and no shell history."""
    env = environment_state()
    where: Loc | None
    if url is not None:
        text, where, from_environment = url, option("--state"), False
    elif env is not None:
        text, where, from_environment = env, option(ENV_VARIABLE), True
    else:
        text, where, from_environment = default, origin, False
    location = parse_state_url(text, root, where, from_environment)
    if isinstance(location, Path):
        location = Path(os.path.abspath(location))
        shown = display_path(location)
    else:
        shown = location.shown
    # hints name --state when it was given; the variable is in the environment already
    return StateRef(location, shown, where or Loc(shown, 0, 0),
                    given or Given(Path(display_path(root)), url))


def state_ref(loaded: Loaded, given: Given) -> StateRef:
    """The state of a validated project (`--state`, then $JOURNEYCTL_STATE, then `state:` in
    journeyctl.yaml)."""
    project = loaded.project
    assert project is not None
    doc = loaded.docs.get(project.loc.file)
    written = doc is not None and isinstance(doc.data, dict) and "state" in doc.data
    origin = doc.loc(("state",)) if doc is not None and written else None
    return resolve_state(given.state, project.state, project.root, origin, given)


def refuse_other_project(snapshot: Snapshot, project: str, ref: StateRef) -> None:
    """At the --state option or `state:` that chose the state of another project."""
    conflict = project_conflict(snapshot.project, project, f"the state at {ref.shown}")
    if conflict:
        raise StateError(*conflict, ref.origin)


def not_found(given: str, what: str, usable: Callable[[Path], bool],
              suggest: Callable[[str], str], otherwise: str | None) -> JourneyctlError:
    """JC001 for a path (`given` as typed) that names nothing. The hint is the command
    `suggest` makes of the closest name beside it that is `usable`, else `otherwise`."""
    close = close_path(Path(given), usable)
    hint = f"did you mean {close}? {suggest(str(close))}" if close else otherwise
    return JourneyctlError([diagnostic(
        "JC001", f"{given} not found: there is no {what} of that name", Loc(given, 0, 0), hint)])


def source(loaded: Loaded) -> dict[str, Any]:
    """Where a plan's content came from: the project folder and its git commit, recorded in
    the plan so that `apply PLAN_FILE` records them too (and resolves --state like `plan`).
    `dirty`: a file the project reads differs from that commit (a plan saved in the project
    folder, or any other file the project does not read, does not count)."""
    project = loaded.project
    assert project is not None
    git = git_info(project.root, project_files(loaded), project_folders(project))
    return {"root": str(project.root.resolve()), "commit": git.commit, "author": git.author,
            "dirty": git.dirty}


def project_files(loaded: Loaded) -> list[Path]:
    """The files a loaded project was read from: settings, catalog, channels, journeys,
    templates, snippets."""
    project = loaded.project
    assert project is not None
    names = {*loaded.docs, *(snippet.loc.file for snippet in project.snippets.values())}
    return sorted(Path(name) for name in names)


def project_folders(project: Project) -> list[tuple[Path, str]]:
    """Where the project looks for its journeys, templates and snippets, and their suffixes: a
    committed file deleted there is a change too."""
    folders = [(project.journeys_dir, YAML_SUFFIXES), (project.templates_dir, YAML_SUFFIXES),
               (project.snippets_dir, (SNIPPET_SUFFIX,))]
    return [(project.root / folder, suffix) for folder, suffixes in folders
            for suffix in suffixes]


def apply_meta(plan: Plan, operation: str) -> ApplyMeta:
    origin = plan.source or {}
    return ApplyMeta(operation, getpass.getuser(), origin.get("commit"), origin.get("author"),
                     bool(origin.get("dirty")))


def locked_apply(ref: StateRef, project: str, timeout: float, ask: str | None,
                 operation: str, make: Callable[[Store, Snapshot], Plan],
                 create: bool = True) -> bool:
    """Take the lock, plan against the locked state, confirm, apply, release. True when
    something was applied. `ask`: see `confirm_and_apply`."""
    store = ref.open(create=create)
    if not create:
        ref.require(store)
    with closing(store), ref.locked(store, operation, timeout):
        snapshot = store.snapshot()
        refuse_other_project(snapshot, project, ref)
        return confirm_and_apply(store, make(store, snapshot), ask, operation,
                                 ref.shown)


def confirm_and_apply(store: Store, plan: Plan, ask: str | None,
                      operation: str, shown: str) -> bool:
    """Show the plan, ask, apply. True when something was applied. `ask` is None when the
    plan needs no question (--auto-approve, a saved plan), else the command that would apply
    it without one: the hint when there is no terminal to ask on."""
    print_plan(plan)
    if not plan.has_changes:
        return False
    if ask is not None:
        if not sys.stdin.isatty():
            raise JourneyctlError([diagnostic(
                "JC968", "apply asks for confirmation, and there is no terminal to ask on",
                Loc(shown, 0, 0), f"review the plan above, then apply it without the question: "
                f"{ask}")])
        try:
            answer = input("\nApply these changes? Only 'yes' applies: ")
        except EOFError:  # Ctrl-D: no answer is not a yes
            answer = ""
            print()
        if answer.strip() != "yes":
            print("Nothing applied.")
            return False
    serial = store.apply(plan, apply_meta(plan, operation), time.time())
    print(f"\nApplied: {shown} is now at serial {serial}.")
    return True


def print_plan(plan: Plan, stream: Any = None) -> None:
    from rich.console import Console
    from rich.text import Text

    styles = {"create": "green", "update": "yellow", "delete": "red", "warning": "bold yellow",
              "bold": "bold"}
    # soft wrap: a plan line is never broken by rich, in a terminal, a pipe or a CI log
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
    for style, text in to_text(plan):
        console.print(Text(text, style=styles.get(style, "")))


def open_state(given: Given, readonly: bool = True) -> tuple[Store, StateRef, Loaded]:
    """The state of a valid project, which must exist (history, status, force-unlock)."""
    loaded = valid_project(given.project)
    ref = state_ref(loaded, given)
    return ref.require(ref.open(readonly=readonly)), ref, loaded
