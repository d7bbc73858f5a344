"""The daemon's core: one thread owns the SQLite connection and the engine.

Everything that reads or writes the state runs here, one call at a time: ingest batches,
engine transitions, outbox updates, API reads. SQLite wants one writer, and the engine's CEL
context is not thread-safe, so one thread is both the simplest and the correct design; the
asyncio loop stays free for HTTP and for provider calls.

An engine transition takes the next input in time order — an event at its arrival time, or a
timer at its due time, events first at equal times, exactly the simulator's order — loads the
user, runs the engine, renders the messages it emits, and commits it all in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.diagnostics import JourneyctlError
from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, Migrate, Tick, TimerFired
from journeyctl.engine.interpreter import Engine, new_state
from journeyctl.engine.policy import refusal
from journeyctl.engine.state import Instance, UserState
from journeyctl.messages import address, render_template
from journeyctl.state.applied import Applied, load_applied
from journeyctl.state.runtime import InboxRow, PendingTick, Runtime, TimerRow
from journeyctl.state.sqlite import SqliteStore

log = logging.getLogger("journeyctl.core")
TICK_PAGE = 500  # users per transaction of a schedule tick


class Core:
    """Used from the core thread only (see `journeyctl.daemon.db`)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time,
                 observe_lag: Callable[[float], None] | None = None) -> None:
        self.store = SqliteStore(path)
        if not self.store.exists:
            raise FileNotFoundError(path)
        self.runtime = Runtime(self.store)
        self.clock = clock
        self.observe_lag = observe_lag or (lambda seconds: None)
        self.applied: Applied | None = None
        self.engine: Engine | None = None
        self.reload()

    def close(self) -> None:
        self.store.close()

    # --- what runs ---------------------------------------------------------------------------

    def reload(self) -> bool:
        """Load the applied versions again when an apply changed the serial; True if it did."""
        serial = self.runtime.serial()
        if self.applied is not None and self.applied.serial == serial:
            return False
        applied = load_applied(self.store)
        self.applied = applied
        self.engine = Engine(applied.project, versions=applied.versions, older=applied.older) \
            if applied else None
        return True

    def schedules(self) -> dict[str, str]:
        """journey -> cron expression, for the journeys a `schedule` triggers."""
        if self.applied is None:
            return {}
        return {j.id: j.trigger.cron for j in self.applied.project.journeys
                if isinstance(j.trigger, m.ScheduleTrigger)}

    # --- engine transitions ------------------------------------------------------------------

    def process(self, limit: int = 1000, budget: float = 0.02) -> int:
        """Run the inputs that are due, in time order, for up to `budget` seconds (so ingest
        and API reads waiting for this thread are not held up for long); returns how many ran.

        The inputs of one call commit in one transaction: a crash replays all of them, and
        each is idempotent against the committed state, so nothing is lost or done twice.
        """
        if self.engine is None:
            return 0
        started = time.perf_counter()
        done = 0
        try:
            with self.runtime.batch():
                while done < limit and time.perf_counter() - started < budget:
                    work = self._next()
                    if work is None:
                        break
                    self._run(work)
                    done += 1
        except Exception:
            # One input broke (a bug): the batch rolled back. Run them again one at a time,
            # setting aside the one that breaks, so one bad input cannot stall the daemon.
            log.exception("an engine batch failed; retrying its inputs one by one")
            return self._careful(done + 1)
        return done

    def _careful(self, count: int) -> int:
        done = 0
        for _ in range(count):
            work = self._next()
            if work is None:
                break
            try:
                with self.runtime.batch():
                    self._run(work)
            except Exception as exc:
                log.exception("input set aside after it failed: %s", work)
                self.runtime.set_aside(work, f"{type(exc).__name__}: {exc}")
            done += 1
        return done

    def _next(self) -> InboxRow | TimerRow | PendingTick | None:
        """The next input: the earliest of the next event (at its arrival time), the next due
        timer and the next page of a schedule tick — events first at equal times, as in the
        simulator."""
        now = self.clock()
        event = self.runtime.next_event()
        timer = self.runtime.next_timer(now)
        if event is not None and (timer is None or event.received_at <= timer.due):
            return event
        if timer is not None:
            return timer
        return self.runtime.next_tick(now)

    def _run(self, work: InboxRow | TimerRow | PendingTick) -> None:
        if type(work) is InboxRow:
            self._event(work)
        elif type(work) is TimerRow:
            self._timer(work, self.clock())
        else:
            assert type(work) is PendingTick
            self._tick(work)

    def _user(self, user_id: str) -> UserState:
        state = self.runtime.load_user(user_id)
        if state is None:
            state = new_state(user_id, self.runtime.profile(user_id))
        return state

    def _event(self, row: InboxRow) -> None:
        state = self._user(row.user_id)
        effects = self._reconcile(state, row.received_at)
        event = Event(row.user_id, row.name, row.time, row.properties, row.event_id)
        effects += self._step(state, event, row.received_at)
        self._commit(state, effects, inbox_seq=row.seq)

    def _timer(self, row: TimerRow, now: float) -> None:
        """A timer fires at its due time (however late the poller is): the same moment the
        simulator would have used, so the two agree."""
        state = self._user(row.user_id)
        effects = self._reconcile(state, row.due)
        effects += self._step(state, TimerFired(row.user_id, row.key, row.token), row.due)
        self._commit(state, effects, timer=row)
        self.observe_lag(max(0.0, now - row.due))

    def _tick(self, tick: PendingTick) -> None:
        """One page of a schedule tick: the next known users in id order."""
        users = self.runtime.known_users(tick.after, TICK_PAGE)
        for user_id in users:
            state = self._user(user_id)
            effects = self._reconcile(state, tick.at)
            effects += self._step(state, Tick(user_id, tick.journey), tick.at)
            self._commit(state, effects)
        self.runtime.tick_progress(tick, users[-1] if len(users) == TICK_PAGE else None)

    def _step(self, state: UserState, value: Any, now: float) -> list[Any]:
        assert self.engine is not None
        _, effects = self.engine.step(state, value, now)
        return effects

    def _reconcile(self, state: UserState, now: float) -> list[Any]:
        """Instances an apply moved (`migrate:`) since this user was last loaded."""
        effects: list[Any] = []
        for journey_id, js in state.journeys.items():
            inst = js.active
            if inst is None:
                continue
            row = self.store.db.execute(  # type: ignore[union-attr]
                "SELECT version, step FROM instances WHERE user_id = ? AND journey = ? AND "
                "number = ?", [state.user_id, journey_id, inst.number]).fetchone()
            if row is not None and row[0] != inst.version and row[1]:
                effects += self._step(state, Migrate(state.user_id, journey_id, inst.number,
                                                     row[0], row[1]), now)
        return effects

    def _commit(self, state: UserState, effects: list[Any], *, inbox_seq: int | None = None,
                timer: TimerRow | None = None) -> None:
        messages = [self._message(state, e) for e in effects if type(e) is fx.Send]
        changed = any(type(e) is fx.ProfileUpdated for e in effects)
        self.runtime.commit(state, effects, messages, inbox_seq=inbox_seq, timer=timer,
                            profile_changed=changed)

    # --- messages ----------------------------------------------------------------------------

    def _message(self, state: UserState, send: fx.Send) -> dict[str, Any]:
        """The outbox row for a Send: rendered now (the content of its moment), with the
        fallbacks it may still need if the provider refuses it for good."""
        assert self.applied is not None
        inst: Instance | None = send.instance_ref
        version = inst.version if inst else self.applied.versions.get(send.journey, 1)
        templates = self.applied.templates.get((send.journey, version), {})
        journey = self._journey(send.journey, version)
        base = {
            "idempotency_key": send.idempotency_key, "user_id": send.user_id,
            "journey": send.journey, "step": send.step, "category": send.category,
            "time": send.time, "variant": send.variant,
            "max_delay": journey.max_delay.seconds if journey and journey.max_delay else None,
        }
        first = self._option(state, inst, send, templates, send.channel, send.template)
        fallbacks = []
        step = journey.step(send.step) if journey else None
        if step is not None and isinstance(step.action, m.Send):
            promotional = send.category == "promotional"
            for option in step.action.options[send.option + 1:]:
                channel = self.applied.project.channels.get(option.channel)
                if channel and refusal(channel, state.profile, promotional) is None:
                    fallbacks.append(self._option(state, inst, send, templates, option.channel,
                                                  option.template))
        return {**base, **first, "fallbacks": fallbacks}

    def _journey(self, journey_id: str, version: int) -> m.Journey | None:
        assert self.engine is not None
        compiled = self.engine.compiled.versions.get((journey_id, version))
        return compiled.journey if compiled else None

    def _option(self, state: UserState, inst: Instance | None, send: fx.Send,
                templates: dict[str, m.Template], channel_name: str, template_name: str
                ) -> dict[str, Any]:
        """One way to send the message: the address and the rendered content, or the error
        that makes it unsendable (recorded as the delivery's failure, then the fallback)."""
        assert self.applied is not None
        project = self.applied.project
        channel = project.channels.get(channel_name)
        template = templates.get(template_name)
        option: dict[str, Any] = {"channel": channel_name, "template": template_name,
                                  "to": address(channel, state.profile) if channel else None,
                                  "content": None, "error": None}
        if template is None:
            option["error"] = f"template {template_name} is not in the applied version"
            return option
        journey = {"id": send.journey, "version": inst.version if inst else 1,
                   "entered_at": inst.entered_at if inst else send.time}
        message = {"variant": send.variant, "step": send.step, "category": send.category,
                   "variants": dict(inst.variants) if inst else {}}
        try:
            option["content"] = render_template(
                project, template, state.profile, inst.entry if inst else None,
                inst.last_event if inst else None, journey, message)
        except JourneyctlError as exc:
            option["error"] = exc.diagnostics[0].message
        return option
