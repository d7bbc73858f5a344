"""`journeyctl init`: a small project that validates, passes its test and simulates, to start from.

The files are written into a temporary folder and moved into place at the end, so an
interrupted `init` leaves no half-written project behind. The folder may exist if it is empty
or holds nothing but `.git` (a fresh `git init`).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from pathlib import Path

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.schema import schema_dir

SAMPLE_EVENTS = "data/events.jsonl"  # for `journeyctl simulate --events`
SAMPLE_PROFILES = "data/profiles.jsonl"

_FILES: dict[str, str] = {
    "journeyctl.yaml": """\
# yaml-language-server: $schema=schema/project.schema.json
project: {name}
timezone: UTC                  # naive timestamps, cron and users without profile.timezone
journeys: journeys/
events: events.yaml
channels: channels.yaml
templates: templates/
tests: tests/
state: sqlite:///.journeyctl/state.db
caps:                          # across all journeys; promotional messages only
  - {{channel: any, max: 3, per: 7d}}
quiet_hours: {{start: "21:00", end: "08:00", action: delay}}
snippets: snippets/            # Liquid partials for templates: {{% render 'footer' %}}
""",
    "events.yaml": """\
# yaml-language-server: $schema=schema/events.schema.json
events:
  signup:
    description: A user created an account
    properties:
      plan: {type: string}
  purchase:
    properties:
      amount: {type: number, required: true}
      order_id: {type: string}
  unsubscribe: {}
profile:
  name: string
  email: string
  timezone: string
  consent:
    type: object
    properties:
      email: boolean
""",
    "channels.yaml": """\
# yaml-language-server: $schema=schema/channels.schema.json
channels:
  email:
    adapter: sendgrid
    base_url: https://api.sendgrid.com
    credentials: {api_key: env:SENDGRID_API_KEY}   # the variable's name, never the key
    from: {email: hello@example.com, name: Example}
    address: email
    consent: consent.email
    timeout: 10s
    retry: {attempts: 5, backoff: 1s, max_backoff: 5m}
    rate_limit: 100/s
""",
    "journeys/welcome.yaml": """\
# yaml-language-server: $schema=../schema/journey.schema.json
journey: welcome
name: Welcome new users
status: active
trigger:
  event: signup
goal:
  event: purchase
  within: 14d
  value: event.amount
exit_on:
  - event: unsubscribe
steps:
  - id: send_welcome
    send: {channel: email, template: welcome_email, category: transactional}
  - id: wait_for_purchase
    wait_for: {event: purchase, timeout: 3d, on_timeout: send_nudge}
    next: exit
  - id: send_nudge
    send: {channel: email, template: nudge_email}
""",
    "templates/welcome_email.yaml": """\
# yaml-language-server: $schema=../schema/template.schema.json
channel: email
subject: "Welcome, {{ profile.name | default: 'there' }}!"
text: |
  Hi {{ profile.name | default: 'there' }},
  thanks for signing up.
  {% render 'footer' %}
""",
    "templates/nudge_email.yaml": """\
# yaml-language-server: $schema=../schema/template.schema.json
channel: email
subject: "Anything we can help with?"
text: |
  Hi {{ profile.name | default: 'there' }},
  your account is ready whenever you are.
""",
    "snippets/footer.liquid": """\
{%- comment -%}
  A snippet: templates render it with {% render 'footer' %}. It sees profile, entry, event,
  journey and message; pass anything else by name: {% render 'footer', coupon: coupon %}.
{%- endcomment -%}
--
Example · hello@example.com
You get this email at {{ profile.email }} because you signed up.
""",
    "tests/welcome.yaml": """\
# yaml-language-server: $schema=../schema/test.schema.json
# Run with `journeyctl test`: each test replays events on the simulator and checks what is sent.
journeys: [welcome]
start: "2024-01-01T09:00:00Z"
profiles:
  ana: {name: Ana, email: ana@example.com, consent: {email: true}}
tests:
  - name: a new user gets the welcome email, and the nudge three days later
    events:
      - {at: +0, user: ana, event: signup, properties: {plan: free}}
    until: +4d
    expect:
      messages:
        - {at: +0, user: ana, step: send_welcome, template: welcome_email}
        - {at: +3d, user: ana, step: send_nudge, template: nudge_email}
  - name: a purchase converts and stops the nudge
    events:
      - {at: +0, user: ana, event: signup}
      - {at: +1d, user: ana, event: purchase, properties: {amount: 30, order_id: o-1}}
    until: +4d
    expect:
      messages:
        - {at: +0, user: ana, template: welcome_email}
      conversions:
        - {user: ana, journey: welcome, at: +1d, value: 30}
""",
    ".gitignore": ".journeyctl/\n",
}


# A tiny sample for `journeyctl simulate`: Ana buys within a day, Ben after his nudge, and
# Chloe's nudge is held back (no email consent for promotional messages).
_PROFILES = [
    {"user_id": "ana", "name": "Ana", "email": "ana@example.com", "consent": {"email": True}},
    {"user_id": "ben", "name": "Ben", "email": "ben@example.com", "consent": {"email": True}},
    {"user_id": "chloe", "email": "chloe@example.com", "consent": {"email": False}},
]
_EVENTS = [
    ("ana", "signup", "2024-01-01T09:00:00Z", {"plan": "free"}),
    ("ben", "signup", "2024-01-01T10:30:00Z", {"plan": "pro"}),
    ("ana", "purchase", "2024-01-02T14:00:00Z", {"amount": 30, "order_id": "o-1"}),
    ("chloe", "signup", "2024-01-03T08:00:00Z", {}),
    ("ben", "purchase", "2024-01-06T18:00:00Z", {"amount": 120, "order_id": "o-2"}),
]
_FILES[SAMPLE_PROFILES] = "".join(json.dumps(p) + "\n" for p in _PROFILES)
_FILES[SAMPLE_EVENTS] = "".join(
    json.dumps({"event_id": f"e-{i}", "user_id": user, "event": event, "timestamp": time,
                "properties": properties}) + "\n"
    for i, (user, event, time, properties) in enumerate(_EVENTS, 1))


def project_id(text: str) -> str:
    """A folder name turned into a valid project id."""
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug or "my-project"


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Create the project; returns the files written. Refuses a folder that holds anything but
    `.git`; raises OSError when the folder cannot be created (and leaves nothing behind)."""
    _check_target(directory)
    name = project_id(name or directory.resolve().name)
    parent = directory.resolve().parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]  # deepest first
    try:
        parent.mkdir(parents=True, exist_ok=True)
        written = _write(directory, parent, name)
    except BaseException:  # nothing stays behind, not even the folders made for it, also on ^C
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return sorted(directory / p for p in written)


def _check_target(directory: Path) -> None:
    shown = str(directory)
    if not directory.exists():
        return
    if not directory.is_dir():
        raise JourneyctlError([diagnostic(
            "JC001", f"{shown} already exists and is not a folder", Loc(shown),
            "choose a new folder; init never overwrites files")])
    others = sorted(p.name for p in directory.iterdir() if p.name != ".git")
    if others:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise JourneyctlError([diagnostic(
            "JC001", f"{shown} already exists and is not empty (it holds {listed})", Loc(shown),
            "choose a new folder, or an empty one (a folder holding only .git is fine); "
            "init never overwrites files")])


def _write(directory: Path, parent: Path, name: str) -> list[Path]:
    """Write the files in a staging folder, then move them into place; the paths written,
    relative to `directory`."""
    # An existing folder stays (it may be the shell's working folder, or hold .git): the files
    # move into it. Staging inside it keeps every move on one file system.
    staging = Path(tempfile.mkdtemp(prefix=".journeyctl-init-",
                                    dir=directory if directory.exists() else parent))
    try:
        _fill(staging, name)
        written = [p.relative_to(staging) for p in staging.rglob("*") if p.is_file()]
        if directory.exists():
            _move_into(staging, directory)
        else:
            staging.rename(directory)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fill(staging: Path, name: str) -> None:
    for relative, text in _FILES.items():
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        body = text.format(name=name) if relative == "journeyctl.yaml" else text
        target.write_text(body, encoding="utf-8")
    shutil.copytree(schema_dir(), staging / "schema",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))


def _move_into(staging: Path, directory: Path) -> None:
    """Move each top-level entry of `staging` into `directory`; all or none, also when Ctrl-C
    comes in the middle (half a project in the user's folder would have to be cleaned by
    hand, and a second `init` would refuse the folder)."""
    names = sorted(p.name for p in staging.iterdir())
    try:
        for name in names:
            (staging / name).rename(directory / name)
    except BaseException:
        _move_back(names, staging, directory)
        raise


def _move_back(names: list[str], staging: Path, directory: Path) -> None:
    """Undo `_move_into`: what left `staging` is back in it (then removed with it). Judged by
    what is where, not by a list of moves, so a move interrupted before it was noted is undone
    too; the folder held nothing of these names before (`_check_target`)."""
    for name in names:
        placed, origin = directory / name, staging / name
        if origin.exists() or not (placed.exists() or placed.is_symlink()):
            continue
        try:
            placed.rename(origin)
        except OSError:
            if placed.is_dir():
                shutil.rmtree(placed, ignore_errors=True)
            else:
                placed.unlink(missing_ok=True)
