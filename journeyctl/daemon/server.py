"""`journeyctl serve`: one asyncio process around the engine.

- the HTTP API (Starlette on uvicorn) ingests events and profiles into the state store;
- the engine loop runs what is due — events in arrival order, timers at their due time,
  schedule ticks — on the core thread, committing each batch of transitions with the messages
  they produce (the transactional outbox);
- APScheduler wakes the engine loop to poll for due timers, reloads the applied journeys when an
  `apply` changed the state, and fires the `schedule` triggers' cron jobs;
- the dispatcher sends outbox messages through the channel adapters;
- a pruning job deletes processed events and finished messages past the project's `retention`;
- a heartbeat says the daemon is alive and keeps its share of the users' partitions (a
  PostgreSQL state shared by several daemons: `journeyctl.state.base.Leases`); the engine
  runs only the partitions it holds.

A failure in a loop (the store locked or failing, a bug) does not end it: the loop logs it once
(`logs.Watch`), backs off and tries again, and /healthz answers 503 while it keeps failing.

Shutdown (SIGTERM or SIGINT): stop accepting connections and finish the requests in flight,
stop the engine after its current batch (committed), let the messages already handed to a
provider finish and record their outcome, then close the store. Anything not finished stays in
the store and is picked up by the next start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from channel_adapters.factory import adapter_for, redirected
from channel_adapters.transport import fast_client
from journeyctl import model as m
from journeyctl.cron import next_tick, trigger
from journeyctl.daemon.api import ApiOptions, build_app
from journeyctl.daemon.connections import HttpLimits, protocol
from journeyctl.daemon.core import Core
from journeyctl.daemon.core_thread import CoreThread
from journeyctl.daemon.dispatch import Dispatcher
from journeyctl.daemon.health import ChannelHealth
from journeyctl.daemon.logs import Watch
from journeyctl.daemon.metrics import Metrics
from journeyctl.daemon.retention import Pruner
from journeyctl.daemon.unsubscribe import Links
from journeyctl.diagnostics import Diagnostic, JourneyctlError
from journeyctl.state.applied import Applied
from journeyctl.state.base import Clock, Runtime
from journeyctl.state.partitions import Held

log = logging.getLogger("journeyctl.serve")


@dataclass(frozen=True)
class ServeOptions:
    # provider URLs replacing the channels' own (a fake provider, a proxy): channel -> URL,
    # "*" for every channel not named
    base_urls: dict[str, str] = field(default_factory=dict)
    poll: float = 0.2  # seconds between looks for due timers
    reload: float = 1.0  # seconds between looks for a new apply
    drain: float = 10.0  # seconds shutdown waits for deliveries in flight
    prune: float = 5.0  # seconds between runs of the pruning job
    lease: float = 10.0  # seconds a partition stays with a daemon that stopped renewing it
    api: ApiOptions = field(default_factory=lambda: ApiOptions(token=None))
    http: HttpLimits = field(default_factory=HttpLimits)
    links: Links | None = None  # one-click unsubscribe URLs (--public-url and the secret)


class Daemon:
    def __init__(self, open_state: Callable[[], Runtime], options: ServeOptions,
                 clock: Clock = time.time) -> None:
        """`open_state` opens the applied state (on the core thread); `clock` is the daemon's
        one clock: the core, the API, the dispatcher, the pruner and the cron jobs read it."""
        self.options = options
        self.clock = clock
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.work = asyncio.Event()
        self.core = CoreThread(open_state, clock, observe_lag=self.metrics.timer_lag.observe,
                               observe_failure=self.metrics.expression_failed,
                               observe_counts=self.metrics.journey_counts)
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self._cron: dict[str, str] = {}
        self._channels: tuple[int, dict[str, m.Channel]] = (-1, {})
        self._client: httpx.AsyncClient | None = None
        self.engine_watch = Watch("the engine loop", log)
        self.reload_watch = Watch("reloading the applied state", log)
        self.tick_watch = Watch("recording a schedule tick", log)
        self.lease_watch = Watch("renewing the partitions' leases", log)
        self.held: Held | None = None  # the partitions this daemon runs (a heartbeat's answer)
        self._beat = time.monotonic()  # when the last heartbeat succeeded
        self.channel_health = ChannelHealth()  # fed by the dispatcher, read by /healthz
        self.pruner = Pruner(self.core, self.metrics, self.stopping, clock=clock)
        self.watches = [self.engine_watch, self.reload_watch, self.pruner.watch,
                        self.lease_watch]  # + dispatcher's

    def _applied(self) -> Applied:
        applied = self.core.core.applied
        # `serve` refuses to start with nothing applied (JC980), and an apply never removes it
        assert applied is not None
        return applied

    def problems(self) -> list[str]:
        """What makes the daemon unhealthy now (/healthz answers 503 with them)."""
        found = [problem for watch in self.watches if (problem := watch.problem())]
        # A heartbeat that hangs (a store that stopped answering without an error) fails no
        # watch: its age says it. Past a lease, the partitions may be another daemon's.
        silent = time.monotonic() - self._beat
        if self.held is not None and silent > self.options.lease:
            found.append(f"no heartbeat for {silent:.0f}s (the state store does not answer); "
                         "this daemon's partitions pass to the others")
        return found

    def channels(self) -> dict[str, m.Channel]:
        """The applied channels, pointed at --base-url where given (the same objects until
        the next apply: the dispatcher keeps an adapter per channel object)."""
        applied = self._applied()
        if self._channels[0] != applied.serial:
            channels = dict(applied.project.channels)
            urls = self.options.base_urls
            for name, channel in channels.items():
                url = urls.get(name, urls.get("*"))
                if url:
                    channels[name] = redirected(channel, url)
            self._channels = (applied.serial, channels)
        return self._channels[1]

    def check_channels(self, client: httpx.AsyncClient) -> None:
        """Every channel the applied journeys send on can send from this environment (its
        credentials are set); raises JourneyctlError naming what is missing."""
        problems = self._channel_problems(client)
        if problems:
            raise JourneyctlError(problems)

    def _channel_problems(self, client: httpx.AsyncClient) -> list[Diagnostic]:
        used = {option.channel for journey in self._applied().project.journeys
                for step in journey.steps if isinstance(step.action, m.Send)
                for option in step.action.options}
        problems: list[Diagnostic] = []
        for name, channel in self.channels().items():
            if name not in used:
                continue
            try:
                adapter_for(channel, client)
            except JourneyctlError as exc:
                problems += exc.diagnostics
        return problems

    async def run(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        app = build_app(self.core, self.metrics, self.options.api, self.work.set,
                        health=self.problems, degraded=self.channel_health.degraded,
                        held=lambda: self.held)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                # typed int, but any number of seconds is waited for
                                timeout_graceful_shutdown=self.options.drain,  # type: ignore[arg-type]
                                http=protocol(self.options.http),
                                timeout_keep_alive=self.options.http.keep_alive)
        server = _Server(config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, server, sig)
        try:
            async with fast_client(max_connections=256) as client:
                self.check_channels(client)
                self._client = client
                await self._serve(server, sock, client)
        finally:
            self.core.close()
        log.info("stopped")

    async def _serve(self, server: uvicorn.Server, sock: socket.socket,
                     client: httpx.AsyncClient) -> None:
        dispatcher = Dispatcher(self.core, self.metrics, client, self.channels,
                                clock=self.clock, health=self.channel_health,
                                links=self.options.links)
        self.watches += [dispatcher.watch, dispatcher.sends]
        await self._heartbeat()  # the partitions to run, before the engine looks for work
        self._schedule_jobs()
        self.scheduler.start()
        # The loops catch their own failures; a watched task that still ends early is logged
        # at once and shown by /healthz, not found only at shutdown.
        engine = self.engine_watch.watch(asyncio.create_task(self._engine_loop(dispatcher)))
        delivery = dispatcher.watch.watch(asyncio.create_task(dispatcher.run(self.stopping)))
        host, port = sock.getsockname()[:2]
        log.info("listening on http://%s:%s", host, port,
                 extra={"fields": {"host": host, "port": port, "serial": self._serial()}})
        try:
            await server.serve(sockets=[sock])
        finally:
            self.stopping.set()
            self.work.set()
            self.scheduler.shutdown(wait=False)
            with suppress(Exception):  # a loop that died was logged when it did (Watch)
                await engine
            try:
                await asyncio.wait_for(delivery, self.options.drain)
            except TimeoutError:
                log.warning("deliveries still in flight after %ss; they stay pending and are "
                            "sent again on the next start", self.options.drain)
            except Exception:  # logged when it ended (Watch)
                pass
            await self._release()

    def _stop(self, server: uvicorn.Server, sig: int) -> None:
        log.info("%s: finishing requests and deliveries in flight, then stopping",
                 signal.Signals(sig).name)
        server.should_exit = True
        self.stopping.set()

    def _serial(self) -> int:
        return self._applied().serial

    async def _pause(self, seconds: float) -> None:
        """Wait before trying again after a failure, but not past a shutdown."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # --- the engine loop ---------------------------------------------------------------------

    async def _engine_loop(self, dispatcher: Dispatcher) -> None:
        while not self.stopping.is_set():
            self.work.clear()
            try:
                done = await self.core.call(lambda core: core.process())
            except Exception as exc:  # the store failed (locked, disk full): later, again
                await self._pause(self.engine_watch.failed(exc))
                continue
            self.engine_watch.succeeded()
            if done:
                dispatcher.wake.set()
                await asyncio.sleep(0)  # let the loop answer requests between batches
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self.work.wait(), timeout=self.options.poll)

    # --- partitions ----------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Renew this daemon's leases and take or give back partitions (every lease/5 s: a
        daemon misses four heartbeats before its partitions lapse)."""
        try:
            held = await self.core.call(lambda core: core.runtime.heartbeat())
        except Exception as exc:  # the store is down: the leases lapse, others take over
            self.lease_watch.failed(exc)
            return
        self.lease_watch.succeeded()
        self._beat = time.monotonic()
        if self.held is None or held.parts != self.held.parts:
            log.info("running %d of %d partitions (%d daemons)", len(held.parts), held.count,
                     held.daemons, extra={"fields": {"partitions": list(held.parts),
                                                     "daemons": held.daemons}})
            self.work.set()  # a partition taken over may have work waiting
        self.held = held

    async def _release(self) -> None:
        """Stopping: give the partitions and the messages held back at once, so the other
        daemons take them at their next heartbeat rather than after the lease."""
        try:
            await self.core.call(lambda core: core.runtime.release())
        except Exception as exc:  # the store is down: the leases lapse by themselves
            log.warning("could not give back the partitions (%s); they pass to the other "
                        "daemons when their lease lapses", exc)

    # --- APScheduler jobs --------------------------------------------------------------------

    def _schedule_jobs(self) -> None:
        self.scheduler.add_job(self.work.set, IntervalTrigger(seconds=self.options.poll),
                               id="poll", coalesce=True, max_instances=1)
        self.scheduler.add_job(self._reload, IntervalTrigger(seconds=self.options.reload),
                               id="reload", coalesce=True, max_instances=1)
        self.scheduler.add_job(self.pruner.run, IntervalTrigger(seconds=self.options.prune),
                               id="prune", coalesce=True, max_instances=1)
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=self.options.lease / 5),
                               id="heartbeat", coalesce=True, max_instances=1)
        self._sync_cron()

    async def _reload(self) -> None:
        try:
            changed = await self.core.call(lambda core: core.reload())
        except Exception as exc:  # APScheduler would log a traceback every second
            self.reload_watch.failed(exc)
            return
        self.reload_watch.succeeded()
        if changed:
            serial = self._serial()
            log.info("applied state serial %s loaded", serial, extra={"fields": {"serial": serial}})
            self._check_reloaded_channels(serial)
            self._sync_cron()
            self.work.set()

    def _check_reloaded_channels(self, serial: int) -> None:
        """The start-up credential check, for what an apply changed: the daemon keeps running
        (the other channels work), and says once what is missing. The dispatcher fails the
        affected messages for good, so their fallbacks run."""
        assert self._client is not None
        problems = self._channel_problems(self._client)
        if problems:
            log.error("applied state serial %s: %s; messages on %s fail (to their fallbacks, "
                      "if any) until the daemon is restarted with %s set", serial,
                      "; ".join(p.message for p in problems),
                      "this channel" if len(problems) == 1 else "these channels",
                      "it" if len(problems) == 1 else "them",
                      extra={"fields": {"serial": serial,
                                        "codes": sorted({p.code for p in problems})}})

    def _sync_cron(self) -> None:
        """One cron job per `schedule` trigger (never one job per user); each fire records a
        tick in the store, and the engine loop delivers it to every user. On start, a tick
        missed while the daemon was down is delivered once (the latest one)."""
        schedules = self.core.core.schedules()
        timezone = self._applied().project.timezone
        for journey in set(self._cron) - set(schedules):
            self.scheduler.remove_job(f"tick:{journey}")
        for journey, expr in schedules.items():
            if self._cron.get(journey) == expr:
                continue
            job_id = f"tick:{journey}"
            if journey in self._cron:
                self.scheduler.remove_job(job_id)
            self.scheduler.add_job(self._tick, trigger(expr, timezone), args=[journey],
                                   id=job_id, coalesce=True, misfire_grace_time=None)
            asyncio.get_running_loop().create_task(self._tick(journey))
        self._cron = dict(schedules)

    async def _tick(self, journey: str) -> None:
        try:
            recorded = await self.core.call(lambda core: _record_tick(core, journey,
                                                                      self.clock()))
        except Exception as exc:  # the next fire records the latest tick, this one included
            self.tick_watch.failed(exc, f"recording a tick of {journey}")
            return
        self.tick_watch.succeeded()
        if recorded:
            self.work.set()


def _record_tick(core: Core, journey: str, now: float) -> bool:
    """Record the latest tick of `journey`'s schedule due by `now` that is not recorded yet;
    the first time a journey is seen, start counting from now."""
    expr = core.schedules().get(journey)
    if expr is None:
        return False
    assert core.applied is not None  # `serve` starts only with something applied
    last = core.runtime.last_tick(journey)
    if last is None:
        core.runtime.start_ticks(journey, now)
        return False
    latest = latest_fire(expr, core.applied.project.timezone, last, now)
    return latest is not None and core.runtime.schedule_tick(journey, latest)


def latest_fire(expr: str, timezone: str, after: float, now: float) -> float | None:
    """The latest fire of `expr` in (after, now], or None: missed ticks coalesce into it.

    Stepping forward from `after` costs one `next_tick` per missed fire (half a million for
    `* * * * *` after a year down, on the core thread). Instead: look back from `now` in
    doubling windows until one holds a fire, then halve the span between the latest fire
    known and the earliest moment known to have none after it — a few dozen calls at most.
    """
    def first_after(moment: float) -> float | None:
        fire = next_tick(expr, timezone, dt.datetime.fromtimestamp(moment, dt.UTC))
        if fire is not None and fire.timestamp() <= moment:
            # APScheduler answers the same instant after the repeated hour of a DST fall-back
            # (`30 2 * * *`, Europe/Berlin, after 02:30+01:00). Fires are whole minutes apart,
            # so a second later cannot skip one.
            fire = next_tick(expr, timezone, dt.datetime.fromtimestamp(moment + 1, dt.UTC))
        return None if fire is None else fire.timestamp()

    width = 60.0
    while True:
        start = max(after, now - width)
        fire = first_after(start)
        if fire is not None and fire <= now:
            break
        if start <= after:
            return None
        width *= 2
    # `fire` is a fire <= now, and none lies in (none_after, now]
    none_after = now
    while True:
        following = first_after(fire)
        if following is None or following > now:
            return fire
        middle = fire + (none_after - fire) / 2
        probe = first_after(middle)
        if probe is not None and probe <= now:
            fire = probe
        else:
            none_after = middle


class _Server(uvicorn.Server):
    """uvicorn, with signals left to the daemon (which shuts down more than the server)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: a free one), bound before anything starts so a taken port
    is a clear error, not a traceback from inside uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def open_files(needed: int) -> None:
    """Raise the soft limit on open files towards `needed` (as far as the hard limit allows):
    at the usual 1,024, the connection limit would be met by "too many open files" instead."""
    try:
        import resource
    except ImportError:  # not on Windows, which has no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(open_state: Callable[[], Runtime], options: ServeOptions, sock: socket.socket
          ) -> Any:
    # the API's connections, the providers' (fast_client: 256), the store's files, and room
    open_files(options.http.connections + 512)

    async def main() -> None:
        daemon = Daemon(open_state, options)
        await daemon.run(sock)

    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on Windows): asyncio's loop works too
        return asyncio.run(main())
    return uvloop.run(main())
