"""The Segment HTTP Tracking API's messages (what the Segment and RudderStack SDKs send to
/v1/batch, /v1/track, ...) as the daemon's own event records (docs/daemon.md).

- track: an event named by `event`, with `properties`;
- page, screen: an event named `page` or `screen`, its `name` (and `category`) among the
  properties;
- identify: an `identify` event, its `traits` (or `context.traits`, where RudderStack's SDK
  puts them) as the properties (merged into the profile);
  with both a `userId` and an `anonymousId`, also an identity merge of the anonymous user;
- alias: an identity merge of `previousId` into `userId`.

`userId` (or, without one, `anonymousId`) is the user; `messageId` the event id; `timestamp`
(or `originalTimestamp`; without either, the time it arrived) its time. A message's `context`
is kept in the event's properties under `_context` (not for identify: traits only become
profile attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTEXT = "_context"  # the property holding a message's `context`
TYPES = ("track", "identify", "page", "screen", "alias")
_NAMED = {"page": "page", "screen": "screen", "identify": "identify"}


@dataclass(frozen=True)
class Alias:
    """An identity merge asked for: `anonymous`'s state and later events go to `known`."""

    index: int
    anonymous: str
    known: str
    timestamp: Any
    message_id: str | None


@dataclass
class Converted:
    """A request's messages as event records (`intake.check_events` checks them), the index
    of the message each came from, the merges asked for, and the messages refused."""

    events: list[dict[str, Any]]
    origins: list[int]
    aliases: list[Alias]
    problems: list[tuple[int, str]]


def messages(body: Any, kind: str | None) -> list[Any]:
    """The messages of a request body: one message (a route named after its type), or the
    `batch` list of /v1/batch. ValueError says why the body is unusable."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object" + (
            ': {"batch": [...]}' if kind is None else " (one message)"))
    if kind is not None:
        return [{**body, "type": body.get("type", kind)}]
    batch = body.get("batch")
    if not isinstance(batch, list) or not batch:
        raise ValueError('expected {"batch": [...]} with at least one message')
    return batch


def convert(items: list[Any], received: float) -> Converted:
    out = Converted([], [], [], [])
    for index, message in enumerate(items):
        error = _convert(index, message, received, out)
        if error is not None:
            out.problems.append((index, error))
    return out


def _convert(index: int, message: Any, received: float, out: Converted) -> str | None:
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if kind not in TYPES:
        return f"type {kind!r} is not one of {', '.join(TYPES)}"
    stamp = message.get("timestamp") or message.get("originalTimestamp") or received
    message_id = message.get("messageId")
    if message_id is not None and type(message_id) is not str:
        return "messageId must be text"
    if kind == "alias":
        previous, known = _id(message, "previousId"), _id(message, "userId")
        if previous is None or known is None:
            return "an alias needs previousId and userId (text)"
        return _alias(out, Alias(index, previous, known, stamp, message_id))
    user = _id(message, "userId")
    anonymous = _id(message, "anonymousId")
    if user is None and anonymous is None:
        return "a message needs userId or anonymousId (text)"
    properties = message.get("traits" if kind == "identify" else "properties")
    context = message.get("context")
    if kind == "identify" and properties is None and isinstance(context, dict):
        properties = context.get("traits")  # where the RudderStack SDK puts them
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return f"{'traits' if kind == 'identify' else 'properties'} must be an object"
    name = _NAMED.get(kind, message.get("event"))
    if type(name) is not str or not name:
        return "a track needs its event's name in `event` (text)"
    if kind in ("page", "screen"):
        properties = {**properties, **{key: message[key] for key in ("name", "category")
                                       if message.get(key) is not None}}
    if context is not None and kind != "identify":
        properties = {**properties, CONTEXT: context}
    event = {"user_id": user or anonymous, "event": name, "timestamp": stamp,
             "properties": properties}
    if message_id is not None:
        event["event_id"] = message_id
    out.events.append(event)
    out.origins.append(index)
    if kind == "identify" and user is not None and anonymous is not None:
        return _alias(out, Alias(index, anonymous, user, stamp, message_id))
    return None


def _alias(out: Converted, alias: Alias) -> str | None:
    if alias.anonymous != alias.known:  # (an identify naming one user twice merges nothing)
        out.aliases.append(alias)
    return None


def _id(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if type(value) is int:
        return str(value)
    return value if type(value) is str and value else None
