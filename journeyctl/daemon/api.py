"""The daemon's HTTP API (Starlette): JSON under /v1, described by /v1/openapi.json.

Every route but /healthz, the OpenAPI document and the one-click unsubscribe links (signed
tokens: docs/daemon.md) needs `Authorization: Bearer <token>` when the
daemon has a token (JOURNEYCTL_API_TOKEN). A 202 from POST /v1/events means the accepted events
are committed to the inbox: they survive a crash from that moment. While the store cannot commit
(disk full, the file made read-only, damaged), writes answer 503 with the reason, and so does
/healthz until a commit succeeds again.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from journeyctl import model as m
from journeyctl.daemon import intake, segment, unsubscribe
from journeyctl.daemon.core import ALIAS, FORGET, Core
from journeyctl.daemon.core_thread import CoreThread
from journeyctl.daemon.health import health_answer
from journeyctl.daemon.metrics import CONTENT_TYPE, Metrics
from journeyctl.daemon.openapi import document
from journeyctl.live import live_report
from journeyctl.records import TimeParser
from journeyctl.state import is_store_failure
from journeyctl.state.applied import Applied
from journeyctl.state.partitions import Held
from journeyctl.timefmt import rfc3339

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")
log = logging.getLogger("journeyctl.api")


@dataclass(frozen=True)
class ApiOptions:
    token: str | None  # None: no authentication (loopback only; `serve` enforces that)
    max_body: int = 1 << 20  # bytes
    max_future: float = 300.0  # seconds an event's timestamp may be ahead of our clock
    unsubscribe: unsubscribe.Signer | None = None  # None: every unsubscribe link is refused


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


class StoreDown(Exception):
    """The store cannot commit now: the request's writes were not stored (503)."""


class StoreHealth:
    """Whether the state store can commit, as the API last found it. A write that fails for the
    store's sake makes /healthz answer 503 with the reason until a commit succeeds again: a
    request's, or /healthz's own small write (`touch`), tried at most every `probe_every`
    seconds while the store fails — a load balancer that stops sending on the 503 still sees
    the recovery."""

    def __init__(self, probe_every: float = 1.0) -> None:
        self.problem: str | None = None
        self.probe_every = probe_every
        self._probed = 0.0

    async def commit(self, pending: Awaitable[T]) -> T:
        """`pending`'s result; StoreDown when the store itself failed (full, read-only,
        locked, damaged, I/O) rather than what was written."""
        try:
            result = await pending
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            self._failed(exc)
            raise StoreDown(self.problem) from exc
        if self.problem is not None:
            log.info("the state store commits again")
            self.problem = None
        return result

    def _failed(self, exc: Exception) -> None:
        # one line: libpq's messages run over several ("...refused\n\tIs the server running")
        problem = f"the state store cannot commit: {' '.join(str(exc).split())}"
        if problem != self.problem:
            log.error("%s; writes answer 503 until it can", problem)
        self.problem = problem

    async def problems(self, core: CoreThread) -> list[str]:
        """The store's problem (none or one), looked at again with a probe if it is time."""
        if self.problem is not None and time.monotonic() - self._probed >= self.probe_every:
            self._probed = time.monotonic()
            with suppress(StoreDown):
                await self.commit(core.call(lambda c: c.runtime.touch(c.clock())))
        return [self.problem] if self.problem else []


def build_app(core: CoreThread, metrics: Metrics, options: ApiOptions,
              wake: Callable[[], None],
              health: Callable[[], list[str]] = lambda: [],
              degraded: Callable[[], dict[str, str]] = dict,
              held: Callable[[], Held | None] = lambda: None) -> Starlette:
    """`wake` tells the engine loop there is new work (called after an ingest); `health` says
    what is wrong with the daemon (nothing: healthy), `degraded` which channels mostly fail,
    `held` which partitions it runs, for /healthz and /metrics."""
    api = _Api(core, metrics, options, wake, health, degraded, held)
    guarded = api.guard
    routes = [
        Route("/healthz", api.errors(api.healthz), methods=["GET"]),
        Route("/v1/openapi.json", api.errors(api.openapi), methods=["GET"]),
        Route("/metrics", guarded(api.metrics_text), methods=["GET"]),
        Route("/v1/events", guarded(api.post_events), methods=["POST"]),
        Route("/v1/profiles", guarded(api.post_profiles), methods=["POST"]),
        Route("/v1/users/{user_id:path}", guarded(api.get_user), methods=["GET"]),
        Route("/v1/users/{user_id:path}", guarded(api.delete_user), methods=["DELETE"]),
        Route("/v1/suppressions", guarded(api.get_suppressions), methods=["GET"]),
        Route("/v1/suppressions", guarded(api.post_suppressions), methods=["POST"]),
        Route("/v1/suppressions", guarded(api.delete_suppressions), methods=["DELETE"]),
        Route("/v1/suppressions/{user_id:path}", guarded(api.delete_suppression),
              methods=["DELETE"]),
        Route("/v1/journeys", guarded(api.get_journeys), methods=["GET"]),
        Route("/v1/journeys/{journey_id}", guarded(api.get_journey), methods=["GET"]),
        Route("/v1/journeys/{journey_id}/report", guarded(api.get_report), methods=["GET"]),
    ]
    # Segment/RudderStack-compatible ingest (the SDKs' HTTP Tracking API: docs/daemon.md)
    routes += [Route(f"/v1/{kind}", api.segment_guard(api.segment_route(kind)),
                     methods=["POST"]) for kind in (*segment.TYPES, "batch")]
    # one-click unsubscribe (RFC 8058): the signed token is the authorization
    routes += [Route("/v1/unsubscribe/{token}", api.errors(api.unsubscribe_form),
                     methods=["GET"]),
               Route("/v1/unsubscribe/{token}", api.errors(api.unsubscribe), methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no route {request.url.path}: see /v1/openapi.json"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)


class _Api:
    def __init__(self, core: CoreThread, metrics: Metrics, options: ApiOptions,
                 wake: Callable[[], None], health: Callable[[], list[str]],
                 degraded: Callable[[], dict[str, str]],
                 held: Callable[[], Held | None]) -> None:
        self.core = core
        self.metrics = metrics
        self.options = options
        self.wake = wake
        self.health = health
        self.degraded = degraded
        self.held = held
        self._token = options.token.encode() if options.token else None
        self._parsers: dict[str, TimeParser] = {}
        self.store = StoreHealth()

    # --- wrappers ----------------------------------------------------------------------------

    def errors(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except HttpError as exc:
                return JSONResponse(exc.body, exc.status)
            except intake.BadRequest as exc:
                return JSONResponse({"error": str(exc)}, 400)
            except StoreDown as exc:
                return JSONResponse({"error": f"{exc}: nothing was stored; send it again "
                                              "later"}, 503, headers={"Retry-After": "5"})
            except ClientDisconnect:  # gone before its body was read (or timed out): no one
                return Response(status_code=400)  # reads the answer
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return JSONResponse({"error": "internal error: the daemon's log has the "
                                              "details"}, 500)
        return run

    def guard(self, handler: Handler) -> Handler:
        inner = self.errors(handler)

        async def run(request: Request) -> Response:
            if self._token is not None and not self._authorized(request):
                return JSONResponse(
                    {"error": "missing or wrong bearer token: send `Authorization: Bearer "
                              "<token>` with the token in JOURNEYCTL_API_TOKEN"}, 401,
                    headers={"WWW-Authenticate": 'Bearer realm="journeyctl"'})
            return await inner(request)
        return run

    def segment_guard(self, handler: Handler) -> Handler:
        """The Segment routes: the write key as the HTTP Basic user (the SDKs send it so,
        with no password) is the API token; a bearer token works too. Every error body also
        has the `code` and `message` those SDKs read."""
        inner = self.errors(handler)

        async def run(request: Request) -> Response:
            if self._token is not None and not (self._authorized(request)
                                                 or self._write_key(request)):
                return JSONResponse(
                    {"error": "missing or wrong write key: send the token in "
                              "JOURNEYCTL_API_TOKEN as the write key (HTTP Basic user, no "
                              "password)", "code": "unauthorized",
                     "message": "wrong write key"}, 401,
                    headers={"WWW-Authenticate": 'Basic realm="journeyctl"'})
            response = await inner(request)
            if response.status_code < 400 or not isinstance(response, JSONResponse):
                return response
            body = orjson.loads(response.body)
            code = {400: "invalid_request", 413: "too_large", 503: "unavailable"}.get(
                response.status_code, "error")
            return JSONResponse({"code": code, "message": body["error"], **body},
                                response.status_code, headers={
                                    k: v for k, v in response.headers.items()
                                    if k.lower() == "retry-after"})
        return run

    def _write_key(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(value.strip(), validate=True).partition(b":")[0]
        except (binascii.Error, ValueError):
            return False
        assert self._token is not None
        return hmac.compare_digest(user, self._token)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        assert self._token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                                  self._token)

    # --- reading requests ----------------------------------------------------------------------

    async def _json(self, request: Request) -> Any:
        limit = self.options.max_body
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise HttpError(413, f"the body is {int(length)} bytes; the limit is {limit}: "
                                 "send smaller batches")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"the body is over the limit of {limit} bytes: send "
                                     "smaller batches")
            chunks.append(chunk)
        body = b"".join(chunks)
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = _gunzip(body, limit)  # (the RudderStack SDK sends its batches so)
        if not body.strip():
            raise HttpError(400, "the body is empty: send JSON")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column "
                                 f"{exc.colno}") from None

    def _applied(self) -> Applied:
        return _applied(self.core.core)

    def _parse_time(self, timezone: str) -> TimeParser:
        parser = self._parsers.get(timezone)
        if parser is None:
            parser = self._parsers[timezone] = TimeParser(ZoneInfo(timezone))
        return parser

    # --- routes ------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """503 while the engine or the dispatcher keeps failing (or has stopped): events are
        still accepted then, but nothing runs or is sent, which a liveness probe should see.
        And while the store cannot commit (then events are refused too). A degraded channel is
        200 `degraded` (see `health_answer`)."""
        problems = [*self.health(), *await self.store.problems(self.core)]
        body, status = health_answer(self._applied().serial, problems, self.degraded(),
                                     self.held())
        return JSONResponse(body, status)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(document())

    async def metrics_text(self, request: Request) -> Response:
        def snapshot(core: Core) -> dict[str, Any]:
            return {"live": core.runtime.live_counts(), **core.runtime.pending(core.clock()),
                    "serial": _applied(core).serial, "held": self.held()}

        state = await self.core.call(snapshot)
        return Response(self.metrics.render(state), media_type=CONTENT_TYPE)

    async def post_events(self, request: Request) -> Response:
        body = await self._json(request)
        applied = self._applied()
        items = intake.records(body, "events", single="event")
        project = applied.project
        valid, problems = intake.check_events(items, project.catalog,
                                              self._parse_time(project.timezone),
                                              self.core.clock(),
                                              self.options.max_future)
        rejected = [p.as_json() for p in problems]
        self.metrics.rejected.inc(len(problems))
        if not valid:
            raise HttpError(400, "no valid event in the request: nothing was stored",
                            accepted=0, duplicates=0, rejected=rejected)
        accepted, duplicates = await self.store.commit(self.core.ingest(valid))
        self.metrics.events.inc(accepted)
        self.metrics.duplicates.inc(duplicates)
        if accepted:
            self.wake()
        return JSONResponse({"accepted": accepted, "duplicates": duplicates,
                             "rejected": rejected}, 202)

    def segment_route(self, kind: str) -> Handler:
        """POST /v1/<kind>: one Segment message of that type, or (`batch`) a batch of them."""
        async def handle(request: Request) -> Response:
            return await self.post_segment(request, None if kind == "batch" else kind)
        return handle

    async def post_segment(self, request: Request, kind: str | None) -> Response:
        """Segment messages as events (`journeyctl.daemon.segment`), checked as /v1/events
        checks them; 200 `{"success": true}` once the accepted ones are committed."""
        body = await self._json(request)
        try:
            items = segment.messages(body, kind)
        except ValueError as exc:
            raise intake.BadRequest(str(exc)) from None
        if len(items) > intake.MAX_RECORDS:
            raise intake.BadRequest(f"{len(items)} messages in one request; the limit is "
                                    f"{intake.MAX_RECORDS}: split the batch")
        now = self.core.clock()
        converted = segment.convert(items, now)
        project = self._applied().project
        parse = self._parse_time(project.timezone)
        valid, problems = intake.check_events(converted.events, project.catalog, parse, now,
                                              self.options.max_future)
        rejected: list[dict[str, Any]] = [{"index": index, "error": error}
                                          for index, error in converted.problems]
        rejected += [{**p.as_json(), "index": converted.origins[p.index]} for p in problems]
        for alias in converted.aliases:
            row = intake.check_internal(alias.anonymous, ALIAS, alias.timestamp,
                                        alias.message_id, {"into": alias.known}, parse)
            if isinstance(row, str):
                rejected.append({"index": alias.index, "error": row})
            else:
                valid.append(row)
        rejected.sort(key=lambda r: r["index"])
        self.metrics.rejected.inc(len(rejected))
        if not valid:
            raise HttpError(400, "no valid message in the request: nothing was stored",
                            accepted=0, duplicates=0, rejected=rejected)
        accepted, duplicates = await self.store.commit(self.core.ingest(valid))
        self.metrics.events.inc(accepted)
        self.metrics.duplicates.inc(duplicates)
        if accepted:
            self.wake()
        return JSONResponse({"success": True, "accepted": accepted, "duplicates": duplicates,
                             "rejected": rejected})

    async def post_profiles(self, request: Request) -> Response:
        body = await self._json(request)
        applied = self._applied()
        items = intake.records(body, "profiles")
        valid, problems, undeclared = intake.check_profiles(
            items, applied.project.catalog, self._parse_time(applied.project.timezone))
        rejected = [p.as_json() for p in problems]
        self.metrics.profiles_rejected.inc(len(problems))
        if not valid:
            raise HttpError(400, "no valid profile in the request: nothing was stored",
                            upserted=0, rejected=rejected)
        count = await self.store.commit(self.core.call(lambda c: c.upsert_profiles(valid)))
        self.metrics.profiles.inc(count)
        self.metrics.profiles_undeclared.inc(undeclared.lines)
        return JSONResponse({"upserted": count, "rejected": rejected})

    async def get_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        view = await self.core.call(lambda c: c.runtime.user_view(user_id))
        if view is None:
            raise HttpError(404, f"no user {user_id!r}: no profile, instance or message")
        return JSONResponse(view)

    async def delete_user(self, request: Request) -> Response:
        """Delete everything stored of a user (PIPA, GDPR): queued behind the events already
        received for them, and done by the engine in their order (202); GET answers 404 then."""
        user_id = request.path_params["user_id"]
        row = intake.check_internal(user_id, FORGET, self.core.clock(), None, {},
                                    self._parse_time("UTC"))
        if isinstance(row, str):
            raise HttpError(400, f"user id: {row}")
        await self.store.commit(self.core.ingest([row]))
        self.wake()
        return JSONResponse({"user_id": user_id, "deletion": "accepted", "detail": (
            "the profile, journey state, timers, messages (pending and sent), events and "
            "suppression of the user are deleted once the events received before this "
            "request have run; GET /v1/users/{id} answers 404 then")}, 202)

    async def get_suppressions(self, request: Request) -> Response:
        """A page of the suppression list in user id order; `next` is the `after` of the
        next page (null: the last)."""
        after = request.query_params.get("after", "")
        try:
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= intake.MAX_RECORDS:
            raise HttpError(400, f"limit must be a whole number from 1 to {intake.MAX_RECORDS}")
        page = await self.core.call(lambda c: c.runtime.suppressions(after, limit))
        rows = [{"user_id": s.user_id, "reason": s.reason,
                 "added_at": rfc3339(s.at)} for s in page]
        return JSONResponse({"suppressions": rows,
                             "next": page[-1].user_id if len(page) == limit else None})

    async def post_suppressions(self, request: Request) -> Response:
        users, reason = intake.user_ids(await self._json(request))
        now = self.core.clock()
        added = await self.store.commit(self.core.call(
            lambda c: c.runtime.suppress(users, reason, now)))
        return JSONResponse({"added": added, "already": len(set(users)) - added})

    async def delete_suppressions(self, request: Request) -> Response:
        users, _ = intake.user_ids(await self._json(request))
        removed = await self.store.commit(self.core.call(lambda c: c.runtime.unsuppress(users)))
        return JSONResponse({"removed": removed})

    async def delete_suppression(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        removed = await self.store.commit(self.core.call(
            lambda c: c.runtime.unsuppress([user_id])))
        if not removed:
            raise HttpError(404, f"user {user_id!r} is not on the suppression list")
        return JSONResponse({"removed": removed})

    async def get_journeys(self, request: Request) -> Response:
        journeys = await self.core.call(_journeys)
        return JSONResponse({"journeys": journeys})

    async def get_journey(self, request: Request) -> Response:
        journey_id = request.path_params["journey_id"]
        journey = await self.core.call(lambda core: _one_journey(core, journey_id))
        if journey is None:
            known = ", ".join(j.id for j in self._applied().project.journeys) or "none"
            raise HttpError(404, f"no journey {journey_id!r} is applied (applied: {known})")
        return JSONResponse(journey)

    async def get_report(self, request: Request) -> Response:
        """The live report (`journeyctl.live`) with this journey's part only."""
        journey_id = request.path_params["journey_id"]
        project = self._applied().project
        if project.journey(journey_id) is None:
            known = ", ".join(j.id for j in project.journeys) or "none"
            raise HttpError(404, f"no journey {journey_id!r} is applied (applied: {known})")
        window = [self._window_time(request, name, project.timezone)
                  for name in ("since", "until")]
        report = await self.core.call(
            lambda core: live_report(core.runtime.store, _applied(core).project, *window))
        report["journeys"] = {k: v for k, v in report["journeys"].items() if k == journey_id}
        return JSONResponse(report)

    def _window_time(self, request: Request, name: str, timezone: str) -> float | None:
        text = request.query_params.get(name)
        if text is None:
            return None
        try:
            return self._parse_time(timezone)(text)
        except (ValueError, OverflowError):
            raise HttpError(400, f"{name}={text!r} is not a time: write RFC 3339 "
                            "(2024-03-13T10:00:00+09:00) or a date (2024-03-13)") from None


    # --- one-click unsubscribe (docs/daemon.md) ------------------------------------------------

    def _unsubscribe_target(self, request: Request) -> tuple[str, str, str]:
        """(token, user, channel) of a valid link to a channel with consent; else the one 404
        every bad token gets."""
        token = request.path_params["token"]
        signer = self.options.unsubscribe
        found = signer.verify(token) if signer is not None else None
        channels = self._applied().project.channels
        if found is None or found[1] not in channels or not channels[found[1]].consent:
            raise HttpError(404, unsubscribe.REFUSED)
        return token, *found

    async def unsubscribe_form(self, request: Request) -> Response:
        """GET changes nothing (mail scanners open links): a page whose form POSTs."""
        _, _, channel = self._unsubscribe_target(request)
        return HTMLResponse(unsubscribe.confirm_page(channel), headers=unsubscribe.HEADERS)

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058's POST (body `List-Unsubscribe=One-Click`, any body accepted): the built-in
        `journeyctl.unsubscribe` event into the inbox; a repeat the same day is a duplicate."""
        token, user, channel = self._unsubscribe_target(request)
        now = self.core.clock()
        day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
        row = unsubscribe.inbox_row(token, user, channel, now, day)
        accepted, duplicates = await self.store.commit(self.core.ingest([row]))
        self.metrics.events.inc(accepted)
        self.metrics.duplicates.inc(duplicates)
        if accepted:
            self.wake()
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(unsubscribe.done_page(channel), headers=unsubscribe.HEADERS)
        return JSONResponse({"unsubscribed": True, "channel": channel},
                            headers=unsubscribe.HEADERS)


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body, unpacked up to `limit` bytes (a small body may unpack to a huge one)."""
    unpack = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = unpack.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HttpError(400, f"the body is not valid gzip ({exc}): send it as it is, or "
                             "gzip it whole") from None
    if len(data) > limit or unpack.unconsumed_tail:
        raise HttpError(413, f"the body unpacks to over the limit of {limit} bytes: send "
                             "smaller batches")
    return data


_TRIGGERS = {m.EventTrigger: "event", m.InactiveTrigger: "inactive", m.ScheduleTrigger: "schedule"}


def _applied(core: Core) -> Applied:
    applied = core.applied
    # `serve` refuses to start with nothing applied (JC980), and an apply never removes it
    assert applied is not None
    return applied


def _journeys(core: Core) -> list[dict[str, Any]]:
    """Each applied journey: its latest version, and the active instances per version and
    step (versions older instances are still on included)."""
    applied = _applied(core)
    live = core.runtime.live_counts()
    return [_journey_view(applied, journey, live.get(journey.id, {}))
            for journey in applied.project.journeys]


def _one_journey(core: Core, journey_id: str) -> dict[str, Any] | None:
    """One journey, counting only its own instances (the index on (journey, version, step)
    serves it), not every journey's."""
    applied = _applied(core)
    journey = next((j for j in applied.project.journeys if j.id == journey_id), None)
    if journey is None:
        return None
    return _journey_view(applied, journey, core.runtime.journey_counts(journey_id))


def _journey_view(applied: Applied, journey: m.Journey,
                  counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        "id": journey.id, "name": journey.name, "version": applied.versions[journey.id],
        "trigger": _TRIGGERS[type(journey.trigger)],
        "steps": [step.id for step in journey.steps],
        "active": sum(sum(steps.values()) for steps in counts.values()),
        "live": counts,
    }
