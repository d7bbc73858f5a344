"""The OpenAPI 3.1 description of the daemon's API, served at /v1/openapi.json.

Written out rather than generated: the document is the contract platform engineers build
clients against, and a test checks that every route the app serves is described here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from journeyctl import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "The request was refused; `error` says why and how to fix it")
_UNAUTHORIZED = _json(_ref("Error"), "Missing or wrong bearer token")
_STORE_DOWN = _json(_ref("Error"), "The state store cannot commit now (disk full, read-only, "
                                   "damaged): nothing was stored; retry after `Retry-After`")

SCHEMAS: dict[str, Any] = {
    "UserIds": {"type": "object", "required": ["user_ids"], "additionalProperties": False,
                "properties": {"user_ids": {"type": "array", "maxItems": 10000,
                                            "items": {"type": "string", "minLength": 1}},
                               "reason": {"type": "string", "maxLength": 200}}},
    "Suppression": {"type": "object", "properties": {
        "user_id": {"type": "string"}, "reason": {"type": ["string", "null"]},
        "added_at": {"type": "string", "format": "date-time"}}},
    "Health": {"type": "object", "required": ["status", "serial"],
               "properties": {"status": {"enum": ["ok", "degraded", "unhealthy"]},
                              "serial": {"type": "integer",
                                         "description": "The applied state serial being run"},
                              "reason": {"type": "string",
                                         "description": "Only when unhealthy"},
                              "channels": {
                                  "type": "object", "additionalProperties": {"type": "string"},
                                  "description": "Only when a channel is degraded: each "
                                                 "degraded channel and why"}}},
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}},
    "Event": {
        "type": "object", "additionalProperties": False,
        "required": ["user_id", "event", "timestamp"],
        "properties": {
            "event_id": {"type": "string", "description": "Repeats of a known id are ignored; "
                                                          "at most 256 bytes (UTF-8)"},
            "user_id": {"type": ["string", "integer"],
                        "description": "At most 256 bytes (UTF-8)"},
            "event": {"type": "string", "description": "A name from events.yaml; at most 256 "
                                                       "bytes (UTF-8)"},
            "timestamp": {"type": ["string", "number"],
                          "description": "RFC 3339 (naive = project timezone) or epoch "
                                         "seconds; at most 5 minutes in the future"},
            "properties": {"type": "object",
                           "description": "Checked against the event's catalog entry; the "
                                          "record may nest 32 levels of objects and arrays "
                                          "(itself the first)"},
        },
    },
    "EventBatch": {"type": "object", "additionalProperties": False, "required": ["events"],
                   "properties": {"events": {"type": "array", "minItems": 1,
                                             "maxItems": 10000, "items": _ref("Event")}}},
    "Rejected": {"type": "object", "required": ["index", "error"],
                 "properties": {"index": {"type": "integer"}, "error": {"type": "string"},
                                "event_id": {"type": "string"}}},
    "Ingested": {
        "type": "object", "required": ["accepted", "duplicates", "rejected"],
        "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
                       "rejected": {"type": "array", "items": _ref("Rejected")}},
    },
    "ProfileBatch": {
        "type": "object", "additionalProperties": False, "required": ["profiles"],
        "properties": {"profiles": {"type": "array", "minItems": 1, "maxItems": 10000,
                                    "items": {"type": "object", "required": ["user_id"],
                                              "properties": {"user_id": {"type": "string"}}}}},
    },
    "Upserted": {"type": "object", "required": ["upserted", "rejected"],
                 "properties": {"upserted": {"type": "integer"},
                                "rejected": {"type": "array", "items": _ref("Rejected")}}},
    "User": {
        "type": "object", "required": ["user_id", "profile", "instances", "messages"],
        "properties": {
            "user_id": {"type": "string"}, "profile": {"type": "object"},
            "instances": {"type": "array", "items": {"type": "object", "properties": {
                "journey": {"type": "string"}, "instance": {"type": "integer"},
                "version": {"type": "integer"}, "step": {"type": ["string", "null"]},
                "status": {"type": "string"}, "entered_at": {"type": "number"}}}},
            "messages": {"type": "array", "items": {"type": "object", "properties": {
                "journey": {"type": "string"}, "step": {"type": "string"},
                "channel": {"type": "string"}, "template": {"type": "string"},
                "category": {"type": "string"},
                "status": {"enum": ["pending", "sent", "failed", "expired"]},
                "attempts": {"type": "integer"}, "provider_id": {"type": ["string", "null"]},
                "error": {"type": ["string", "null"]}}}},
        },
    },
    "Journey": {
        "type": "object", "required": ["id", "version", "active", "live"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": ["string", "null"]},
            "version": {"type": "integer", "description": "The latest applied version"},
            "trigger": {"enum": ["event", "inactive", "schedule"]},
            "steps": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "integer"},
            "live": {"type": "object", "description": "version (`v1`...) -> step -> active "
                                                      "instances"},
        },
    },
}


# --- Segment/RudderStack-compatible ingest (the HTTP Tracking API) ----------------------------

SEGMENT_SCHEMAS: dict[str, Any] = {
    "SegmentMessage": {
        "type": "object", "required": ["type"],
        "description": "A Segment message: `userId` or `anonymousId`; `messageId` is the event "
                       "id; `timestamp` (or `originalTimestamp`) its time; `context` kept in "
                       "the event's properties as `_context` (not for identify)",
        "properties": {
            "type": {"enum": ["track", "identify", "page", "screen", "alias"]},
            "userId": {"type": ["string", "integer"]},
            "anonymousId": {"type": ["string", "integer"]},
            "previousId": {"type": ["string", "integer"], "description": "alias: merged into "
                                                                         "userId"},
            "event": {"type": "string", "description": "track: the event's name"},
            "name": {"type": "string"}, "category": {"type": "string"},
            "properties": {"type": "object"},
            "traits": {"type": "object", "description": "identify: merged into the profile"},
            "timestamp": {"type": ["string", "number"]},
            "originalTimestamp": {"type": ["string", "number"]},
            "messageId": {"type": "string"}, "context": {"type": "object"},
        },
    },
    "SegmentBatch": {"type": "object", "required": ["batch"],
                     "properties": {"batch": {"type": "array", "minItems": 1,
                                              "maxItems": 10000,
                                              "items": _ref("SegmentMessage")}}},
    "SegmentAccepted": {
        "type": "object", "required": ["success", "accepted", "duplicates", "rejected"],
        "properties": {"success": {"const": True}, "accepted": {"type": "integer"},
                       "duplicates": {"type": "integer"},
                       "rejected": {"type": "array", "items": _ref("Rejected")}}},
    "SegmentError": {"type": "object", "required": ["error", "code", "message"],
                     "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                                    "message": {"type": "string"}}},
}


def _segment_paths() -> dict[str, Any]:
    error = _json(_ref("SegmentError"), "Refused (`code`, `message`: as the SDKs read them)")
    responses = {"200": _json(_ref("SegmentAccepted"), "Committed; invalid messages listed in "
                                                       "`rejected`"),
                 "400": error, "401": _json(_ref("SegmentError"), "Missing or wrong write key"),
                 "413": error, "503": error}
    paths = {}
    for kind in ("batch", "track", "identify", "page", "screen", "alias"):
        body = _ref("SegmentBatch") if kind == "batch" else _ref("SegmentMessage")
        paths[f"/v1/{kind}"] = {"post": {
            "summary": f"Segment HTTP Tracking API: {kind} (the write key as the HTTP Basic "
                       "user, or the bearer token)",
            "security": [{"writeKey": []}, {"bearer": []}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": body}}},
            "responses": responses}}
    return paths


def _operation(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
               auth: bool = True, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if auth:
        op["responses"] = {**responses, "401": _UNAUTHORIZED}
    else:
        op["security"] = []
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _plain_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}


def _query_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "description": "RFC 3339, or a date (midnight in the project's time zone)",
            "schema": {"type": "string"}}


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "journeyctl daemon", "version": __version__},
        "components": {"schemas": {**SCHEMAS, **SEGMENT_SCHEMAS}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "The token in JOURNEYCTL_API_TOKEN"},
            "writeKey": {"type": "http", "scheme": "basic",
                         "description": "Segment routes: the token in JOURNEYCTL_API_TOKEN "
                                        "as the user (the SDKs' write key), no password"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/events": {"post": _operation(
                "Ingest one event or a batch; 202 once the accepted ones are committed",
                {"202": _json(_ref("Ingested"), "Committed; invalid events listed in "
                                                "`rejected`"),
                 "400": _json(_ref("Ingested"), "Malformed, or no valid event: nothing stored"),
                 "413": _ERROR, "503": _STORE_DOWN},
                body={"oneOf": [_ref("Event"), _ref("EventBatch")]})},
            "/v1/profiles": {"post": _operation(
                "Upsert profiles (attributes merge into the stored profile)",
                {"200": _json(_ref("Upserted"), "Stored; invalid profiles listed in `rejected`"),
                 "400": _ERROR, "413": _ERROR, "503": _STORE_DOWN},
                body=_ref("ProfileBatch"))},
            "/v1/users/{user_id}": {"get": _operation(
                "A user's profile, journey instances and recent messages",
                {"200": _json(_ref("User"), "The user"), "404": _ERROR},
                params=[_path_param("user_id")]), "delete": _operation(
                "Delete everything stored of a user (PIPA, GDPR): profile, journey state, "
                "timers, messages, events, suppression; done by the engine after the events "
                "already received for them (GET answers 404 then)",
                {"202": _json({"type": "object"}, "The deletion is queued"), "400": _ERROR,
                 "503": _STORE_DOWN}, params=[_path_param("user_id")])},
            "/v1/suppressions": {
                "get": _operation(
                    "A page of the global suppression list, in user id order",
                    {"200": _json({"type": "object", "properties": {
                        "suppressions": {"type": "array", "items": _ref("Suppression")},
                        "next": {"type": ["string", "null"],
                                 "description": "`after` of the next page; null: the last"}}},
                        "The page"), "400": _ERROR},
                    params=[_plain_param("after", "Start after this user id"),
                            _plain_param("limit", "Users per page (1-10000, default 1000)")]),
                "post": _operation(
                    "Add users to the global suppression list: no promotional message "
                    "reaches them (`suppressed_list`); transactional messages still go",
                    {"200": _json({"type": "object", "properties": {
                        "added": {"type": "integer"}, "already": {"type": "integer"}}},
                        "Added"), "400": _ERROR, "503": _STORE_DOWN},
                    body=_ref("UserIds")),
                "delete": _operation(
                    "Take users off the global suppression list",
                    {"200": _json({"type": "object", "properties": {
                        "removed": {"type": "integer"}}}, "Removed"), "400": _ERROR,
                     "503": _STORE_DOWN}, body=_ref("UserIds"))},
            "/v1/suppressions/{user_id}": {"delete": _operation(
                "Take one user off the global suppression list",
                {"200": _json({"type": "object", "properties": {
                    "removed": {"type": "integer"}}}, "Removed"),
                 "404": _ERROR, "503": _STORE_DOWN}, params=[_path_param("user_id")])},
            "/v1/journeys": {"get": _operation(
                "The applied journeys with live counts",
                {"200": _json({"type": "object", "properties": {
                    "journeys": {"type": "array", "items": _ref("Journey")}}}, "Journeys")})},
            "/v1/journeys/{journey_id}": {"get": _operation(
                "One applied journey with live counts per version and step",
                {"200": _json(_ref("Journey"), "The journey"), "404": _ERROR},
                params=[_path_param("journey_id")])},
            "/v1/journeys/{journey_id}/report": {"get": _operation(
                "The live report of one journey: the simulate report's JSON (`source: live`), "
                "its `journeys` holding this journey; counts are kept per hour, so the window "
                "takes every hour that overlaps [since, until)",
                {"200": _json({"type": "object"}, "The report"), "400": _ERROR, "404": _ERROR},
                params=[_path_param("journey_id"), _query_param("since"),
                        _query_param("until")])},
            "/healthz": {"get": _operation(
                "Health (no authentication)",
                {"200": _json(_ref("Health"), "Running (`degraded`: a channel's provider "
                                              "mostly fails; its messages wait and retry)"),
                 "503": _json(_ref("Health"), "The engine or the dispatcher keeps failing, or "
                                              "has stopped: `reason` says what")}, auth=False)},
            "/metrics": {"get": _operation(
                "Prometheus metrics (text exposition format)",
                {"200": {"description": "Metrics",
                         "content": {"text/plain": {"schema": {"type": "string"}}}}})},
            "/v1/openapi.json": {"get": _operation(
                "This document (no authentication)",
                {"200": _json({"type": "object"}, "OpenAPI 3.1")}, auth=False)},
            **_segment_paths(),
            **_unsubscribe_paths(),
        },
    }


def _unsubscribe_paths() -> dict[str, Any]:
    """One-click unsubscribe (RFC 8058, docs/daemon.md): the signed token is the authorization,
    and every bad token gets the same 404."""
    refused = _json(_ref("Error"), "Unknown or invalid unsubscribe link (one answer for every "
                                   "bad token: malformed, tampered, another user or channel)")
    html = {"text/html": {"schema": {"type": "string"}}}
    token = {**_path_param("token"), "description": "The signed token of the email's "
                                                    "List-Unsubscribe URL"}
    return {"/v1/unsubscribe/{token}": {
        "get": _operation(
            "A confirmation page whose form POSTs to the same URL; changes nothing (link "
            "scanners open links)",
            {"200": {"description": "The page", "content": html}, "404": refused},
            auth=False, params=[token]),
        "post": {**_operation(
            "One-click unsubscribe (RFC 8058): the user's consent on the token's channel turns "
            "off (the built-in event `journeyctl.unsubscribe`); a repeat the same day is a "
            "duplicate",
            {"200": {"description": "Unsubscribed (HTML when the client accepts text/html)",
                     "content": {"application/json": {"schema": {
                         "type": "object", "properties": {
                             "unsubscribed": {"const": True},
                             "channel": {"type": "string"}}}}, **html}},
             "404": refused, "503": _STORE_DOWN},
            auth=False, params=[token]),
            "requestBody": {
                "required": False,
                "description": "What RFC 8058 clients send; any body is accepted",
                "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object",
                    "properties": {"List-Unsubscribe": {"const": "One-Click"}}}}}}},
    }}
