"""`journeyctl init`: a small project that validates, to start from.

The files are written into a temporary sibling folder and moved into place at the end, so an
interrupted `init` leaves no half-written project behind.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from pathlib import Path

from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.schema import schema_dir

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
""",
    "templates/nudge_email.yaml": """\
# yaml-language-server: $schema=../schema/template.schema.json
channel: email
subject: "Anything we can help with?"
text: |
  Hi {{ profile.name | default: 'there' }},
  your account is ready whenever you are.
""",
    ".gitignore": ".journeyctl/\n",
}


def project_id(text: str) -> str:
    """A folder name turned into a valid project id."""
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug or "my-project"


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Create the project; returns the files written. Refuses a non-empty folder; raises
    OSError when the folder cannot be created (and leaves nothing behind)."""
    shown = str(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise JourneyctlError([diagnostic(
            "JC001", f"{shown} already exists and is not empty", Loc(shown),
            "choose a new folder; init never overwrites files")])
    name = project_id(name or directory.resolve().name)
    parent = directory.resolve().parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]  # deepest first
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _write(directory, parent, name)
    except OSError:  # nothing stays behind, not even the folders made for it
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _write(directory: Path, parent: Path, name: str) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".journeyctl-init-", dir=parent))
    try:
        for relative, text in _FILES.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            body = text.format(name=name) if relative == "journeyctl.yaml" else text
            target.write_text(body, encoding="utf-8")
        (staging / "tests").mkdir()
        shutil.copytree(schema_dir(), staging / "schema",
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        if directory.exists():
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
