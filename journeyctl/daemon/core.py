"""The daemon's core: one thread owns the SQLite connection and the engine.

Everything that reads or writes the state runs here, one call at a time: ingest batches,
engine transitions, outbox updates, API reads. SQLite wants one writer, and the engine's CEL
context is not thread-safe, so one thread is both the simplest and the correct design; the
asyncio loop stays free for HTTP and for provider calls.

An engine transition takes the next input in time order — an event at its arrival time, a
timer at its due time, a schedule tick at its fire time; events first at equal times, then by
when each was set, exactly the simulator's order — loads the user, runs the engine, renders the
messages it emits, and commits it all in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from journeyctl import model as m
from journeyctl.daemon.tally import Tally
from journeyctl.diagnostics import JourneyctlError
from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, Merge, Migrate, Tick, TimerFired
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.policy import refusal
from journeyctl.engine.state import UserState, new_state
from journeyctl.messages import address, render_template
from journeyctl.state import codec, is_store_failure
from journeyctl.state.applied import Applied, AppliedError, load_applied
from journeyctl.state.base import Clock, Delivery, InboxRow, PendingTick, Runtime, TimerRow, Work

log = logging.getLogger("journeyctl.core")
TICK_PAGE = 500  # users per transaction of a schedule tick
WARN_EVERY = 60.0  # seconds between two warnings about one condition
_NOTHING_CHANGED = (fx.NotEntered, fx.ExpressionFailed)  # effects that leave the state as it was
# The inbox's own inputs of an identity merge (no client can send these names: `intake`):
ALIAS = "$alias"  # for the anonymous user, properties {"into": <known user>}
MERGE = "$merge"  # for the known user: {"from": <anonymous user>, "state", "profile"}
# ... and of a user's deletion (`DELETE /v1/users/{id}`): run in the order of the user's events,
# by the daemon holding their partition, so no transition in flight writes them back
FORGET = "$forget"


class Core:
    """Used from the core thread only (see `journeyctl.daemon.core_thread`)."""

    def __init__(self, runtime: Runtime, clock: Clock = time.time,
                 observe_lag: Callable[[float], None] | None = None,
                 observe_failure: Callable[[fx.ExpressionFailed], None] | None = None,
                 observe_counts: Callable[[Counter[tuple[str, ...]]], None] | None = None
                 ) -> None:
        """`runtime`: the state, open on this thread (the core takes it over and closes it);
        `clock`: the daemon's one clock, read for every time the core stamps or compares;
        `observe_counts`: the live report's entries, conversions and suppressions of each
        committed batch (for Prometheus)."""
        self.runtime = runtime
        self.clock = clock
        self.observe_lag = observe_lag or (lambda seconds: None)
        self.observe_failure = observe_failure or (lambda failure: None)
        self.observe_counts = observe_counts or (lambda counts: None)
        self._lags: list[float] = []
        self._failures: list[fx.ExpressionFailed] = []  # counted once their batch commits
        self._warned: dict[tuple[str, str], tuple[float, int]] = {}  # -> (when, not logged)
        applied = load_applied(runtime.store)
        if applied is None:  # `serve` checks first (JC980); an apply is never undone
            runtime.close()
            raise AppliedError("nothing is applied to this state")
        self.applied: Applied = applied
        self.engine = self._engine(applied)
        self.tally = Tally(applied.project, applied.serial, applied.versions)

    def close(self) -> None:
        self.runtime.close()

    # --- writes the API and the dispatcher hand in, at the clock's time ----------------------

    def ingest(self, batches: list[list[dict[str, Any]]]) -> list[tuple[int, int] | Exception]:
        return self.runtime.ingest(batches, self.clock())

    def upsert_profiles(self, profiles: list[dict[str, Any]]) -> int:
        return self.runtime.upsert_profiles(profiles, self.clock())

    def record_deliveries(self, deliveries: list[Delivery]) -> list[None]:
        return self.runtime.record_deliveries(deliveries, self.clock())

    # --- what runs ---------------------------------------------------------------------------

    @staticmethod
    def _engine(applied: Applied) -> Engine:
        return Engine(applied.project, versions=applied.versions, older=applied.older)

    def reload(self) -> bool:
        """Load the applied versions again when an apply changed the serial; True if it did."""
        if self.applied.serial == self.runtime.serial():
            return False
        applied = load_applied(self.runtime.store)
        assert applied is not None
        self.applied, self.engine = applied, self._engine(applied)
        self.tally.use(applied.project, applied.serial, applied.versions)
        return True

    def schedules(self) -> dict[str, str]:
        """journey -> cron expression, for the journeys a `schedule` triggers."""
        return {cj.id: cj.journey.trigger.cron for cj in self.engine.compiled.schedules
                if isinstance(cj.journey.trigger, m.ScheduleTrigger)}

    # --- engine transitions ------------------------------------------------------------------

    def process(self, limit: int = 1000, budget: float = 0.02) -> int:
        """Run the inputs that are due, in time order, for up to `budget` seconds (so ingest
        and API reads waiting for this thread are not held up for long); returns how many ran.

        The inputs of one call commit in one transaction: a crash replays all of them, and
        each is idempotent against the committed state, so nothing is lost or done twice.
        """
        started = time.perf_counter()
        done = 0
        self._lags, self._failures = [], []  # counted once their batch commits
        self.tally.reset()
        try:
            with self.runtime.batch():
                while done < limit and time.perf_counter() - started < budget:
                    work = self._next()
                    if work is None:
                        break
                    self._run(work)
                    done += 1
                self.runtime.add_counts(self.tally.rows())
        except Exception as exc:
            if is_store_failure(exc):
                raise  # the store's trouble (busy, disk full), not an input's: the caller waits
            # One input broke (a bug): the batch rolled back. Run them again one at a time,
            # setting aside the one that breaks (logged with its traceback then), so one bad
            # input cannot stall the daemon.
            log.warning("an engine batch failed (%s: %s); retrying its inputs one by one",
                        type(exc).__name__, exc)
            return self._careful(done + 1)
        self._observe_lags()
        return done

    def _observe_lags(self) -> None:
        for lag in self._lags:
            self.observe_lag(lag)
        for failure in self._failures:
            self.observe_failure(failure)
            if failure.reason == "over_budget":
                self._warn(failure)
        if self.tally.observed:
            self.observe_counts(self.tally.observed)
        self._lags, self._failures = [], []
        self.tally.reset()

    def _warn(self, failure: fx.ExpressionFailed) -> None:
        """Log a condition not evaluated as too costly for its data: once a minute at most per
        condition, with how many times it happened since."""
        key = (failure.journey, failure.where)
        now = time.monotonic()
        last, unlogged = self._warned.get(key, (-WARN_EVERY, 0))
        if now - last < WARN_EVERY:
            self._warned[key] = (last, unlogged + 1)
            return
        self._warned[key] = (now, 0)
        log.warning("journey %s: %s counted as false for user %s, not evaluated: %s (%d more "
                    "since the last warning); the expression: %s", failure.journey,
                    failure.where, failure.user_id, failure.error, unlogged, failure.expression,
                    extra={"fields": {"journey": failure.journey, "where": failure.where,
                                      "user_id": failure.user_id, "reason": failure.reason,
                                      "expression": failure.expression, "since": unlogged}})

    def _careful(self, count: int) -> int:
        done = 0
        for _ in range(count):
            self._lags, self._failures = [], []
            self.tally.reset()
            work: Work | None = None
            try:
                # the input is picked inside its batch: a shared store runs only the
                # partitions the batch holds (see `Leases`)
                with self.runtime.batch():
                    work = self._next()
                    if work is not None:
                        self._run(work)
                        self.runtime.add_counts(self.tally.rows())
            except Exception as exc:
                if is_store_failure(exc) or work is None:
                    raise
                log.exception("input set aside after it failed: %s", work)
                self._lags, self._failures = [], []  # (its batch rolled back: none happened)
                self.tally.reset()
                with self.runtime.batch():
                    self.runtime.set_aside(work, f"{type(exc).__name__}: {exc}", self.clock())
            if work is None:
                break
            self._observe_lags()
            done += 1
        return done

    def _next(self) -> Work | None:
        """The next input: the earliest of the next event (at its arrival time), the next due
        timer and the next page of a schedule tick. As in the simulator, events go first at
        equal times, then whichever was set first; a tick counts as set when the tick before
        it fired, and goes before a timer set at that same moment (the timer was set by what
        that tick started, after the tick was)."""
        now = self.clock()
        event = self.runtime.next_event(now)
        timer = self.runtime.next_timer(now)
        tick = self.runtime.next_tick(now)
        order: list[tuple[tuple[float, int, float, int], Work]] = []
        if event is not None:
            order.append(((event.received_at, 0, 0.0, 0), event))
        if timer is not None:
            order.append(((timer.due, 1, timer.set_at, 1), timer))
        if tick is not None:
            order.append(((tick.at, 1, tick.set_at, 0), tick))
        return min(order, key=lambda item: item[0])[1] if order else None

    def _run(self, work: Work) -> None:
        if type(work) is InboxRow:
            self._event(work)
        elif type(work) is TimerRow:
            self._timer(work, self.clock())
        else:
            assert type(work) is PendingTick
            self._tick(work)

    def _event(self, row: InboxRow) -> None:
        if row.name == ALIAS:
            self._take_out(row)
            return
        if row.name == MERGE:
            self._fold(row)
            return
        if row.name == FORGET:
            deleted = self.runtime.forget(row.user_id, row.seq, row.received_at)
            log.info("user %s deleted: %s", row.user_id,
                     ", ".join(f"{table} {n}" for table, n in deleted.items() if n) or
                     "nothing was stored", extra={"fields": {"user_id": row.user_id,
                                                             "deleted": deleted}})
            return
        state, effects, new_user = self._load(row.user_id, row.received_at)
        # a user merged into another has no state of their own: their events go on there
        known = self.runtime.alias_of(row.user_id) if new_user else None
        if known is not None:
            self.runtime.forward(row.seq, [{
                "event_id": row.event_id, "user_id": known, "event": row.name,
                "time": row.time, "properties": row.properties}], self.clock())
            return
        event = Event(row.user_id, row.name, row.time, row.properties, row.event_id)
        effects += self._step(state, event, row.received_at)[1]
        self._commit(state, effects, row.received_at, inbox_seq=row.seq)
        self.tally.event(row.received_at, new_user)

    # --- identity merge: two steps, each run by the holder of its user's partition ----------

    def _take_out(self, row: InboxRow) -> None:
        """The anonymous user's side: their state (instances, waits, history, profile) leaves
        the store and goes to the known user through the inbox; their later events follow."""
        into = row.properties["into"]
        state, _, _ = self._load(row.user_id, row.received_at)
        self.runtime.take_out(row.user_id, into, self.clock())
        self.runtime.forward(row.seq, [{
            "event_id": None, "user_id": into, "event": MERGE, "time": row.time,
            "properties": {"from": row.user_id, "state": codec.encode(state).decode(),
                           "profile": state.profile}}], self.clock())

    def _fold(self, row: InboxRow) -> None:
        """The known user's side: the engine folds the anonymous state into theirs."""
        state, effects, _ = self._load(row.user_id, row.received_at)
        props = row.properties
        taken = codec.decode(props["state"].encode(), props["profile"])
        self.runtime.drop_alias(row.user_id)  # (a user merged into is themselves again)
        effects += self._step(state, Merge(row.user_id, props["from"], taken),
                              row.received_at)[1]
        self._commit(state, effects, row.received_at, inbox_seq=row.seq)

    def _timer(self, row: TimerRow, now: float) -> None:
        """A timer fires at its due time (however late the poller is): the same moment the
        simulator would have used, so the two agree."""
        state, effects, _ = self._load(row.user_id, row.due)
        effects += self._step(state, TimerFired(row.user_id, row.key, row.token), row.due)[1]
        self._commit(state, effects, row.due, timer=row)
        self._lags.append(max(0.0, now - row.due))

    def _tick(self, tick: PendingTick) -> None:
        """One page of a schedule tick: the next known users in id order. A user the engine
        fails on is set aside alone; the tick goes on for the others."""
        users = self.runtime.known_users(tick.after, TICK_PAGE, tick.part)
        for user_id in users:
            try:
                with self.runtime.savepoint():
                    self._tick_user(tick, user_id)
            except Exception as exc:
                if is_store_failure(exc):
                    raise
                log.exception("tick of %s set aside for user %s", tick.journey, user_id)
                self.runtime.set_aside(tick, f"{type(exc).__name__}: {exc}", self.clock(),
                                       user=user_id)
        self.runtime.tick_progress(tick, users[-1] if len(users) == TICK_PAGE else None)

    def _tick_user(self, tick: PendingTick, user_id: str) -> None:
        state, effects, _ = self._load(user_id, tick.at)
        effects += self._step(state, Tick(user_id, tick.journey), tick.at)[1]
        # Most users are not in the audience: nothing of theirs changed, nothing to write.
        if any(type(e) not in _NOTHING_CHANGED for e in effects):
            self._commit(state, effects, tick.at)
        else:
            self.tally.record(state, effects, tick.at)  # a condition that failed counts

    def _step(self, state: UserState, work: Any, now: float) -> tuple[UserState, list[Any]]:
        """The engine's step, noting the conditions that failed (to count and log them)."""
        state, effects = self.engine.step(state, work, now)
        self._failures += [e for e in effects if type(e) is fx.ExpressionFailed]
        return state, effects

    def _load(self, user_id: str, now: float) -> tuple[UserState, list[Any], bool]:
        """The user's state, with the instances an apply moved (`migrate:`) since it was
        last saved moved on the engine too (checked once per apply, not on every input);
        and whether the store had no state of theirs yet."""
        state, serial = self.runtime.load_user(user_id, new_state)
        effects: list[Any] = []
        if serial is not None and serial > self.applied.serial:
            # another daemon of a shared state ran this user on a newer apply (and their
            # partition moved here before this daemon's reload): catch up first
            self.reload()
        if serial is None or serial == self.applied.serial:
            return state, effects, serial is None
        for journey_id, js in state.journeys.items():
            inst = js.active
            moved = self.runtime.instance_position(user_id, journey_id, inst.number) \
                if inst is not None else None  # (version, step) the store has it at
            if inst is not None and moved is not None and moved[0] != inst.version:
                effects += self._step(state, Migrate(user_id, journey_id, inst.number,
                                                     *moved), now)[1]
        return state, effects, False

    def _commit(self, state: UserState, effects: list[Any], at: float, *,
                inbox_seq: int | None = None, timer: TimerRow | None = None) -> None:
        messages = [self._message(e) for e in effects if type(e) is fx.Send]
        changed = any(type(e) is fx.ProfileUpdated for e in effects)
        self.runtime.commit(state, effects, messages, at=at, now=self.clock(),
                            serial=self.applied.serial,
                            inbox_seq=inbox_seq, timer=timer, profile_changed=changed)
        self.tally.record(state, effects, at)  # (once it committed: with the batch)

    # --- messages ----------------------------------------------------------------------------

    def _message(self, send: fx.Send) -> dict[str, Any]:
        """The outbox row for a Send: rendered now from its moment (the profile, entry and
        variants as they were when the engine sent it), with the fallbacks it may still need
        if the provider refuses it for good."""
        moment = send.moment
        assert moment is not None
        version = moment.journey["version"]
        templates = self.applied.templates.get((send.journey, version), {})
        snippets = self.applied.snippets.get((send.journey, version), m.EMPTY)
        compiled = self.engine.compiled.versions.get((send.journey, version))
        journey = compiled.journey if compiled else None
        base = {
            "idempotency_key": send.idempotency_key, "user_id": send.user_id,
            "journey": send.journey, "step": send.step, "category": send.category,
            "time": send.time, "variant": send.variant,
            "max_delay": journey.max_delay.seconds if journey and journey.max_delay else None,
        }
        first = self._option(send, templates, snippets, send.channel, send.template)
        fallbacks = []
        step = journey.step(send.step) if journey else None
        if step is not None and isinstance(step.action, m.Send):
            promotional = send.category == "promotional"
            for option in step.action.options[send.option + 1:]:
                channel = self.applied.project.channels.get(option.channel)
                if channel and refusal(channel, moment.profile, promotional) is None:
                    fallbacks.append(self._option(send, templates, snippets, option.channel,
                                                  option.template))
        return {**base, **first, "fallbacks": fallbacks}

    def _option(self, send: fx.Send, templates: dict[str, m.Template],
                snippets: Mapping[str, str], channel_name: str,
                template_name: str) -> dict[str, Any]:
        """One way to send the message: the address and the rendered content, or the error
        that makes it unsendable (recorded as the delivery's failure, then the fallback)."""
        moment = send.moment
        assert moment is not None
        project = self.applied.project
        channel = project.channels.get(channel_name)
        template = templates.get(template_name)
        option: dict[str, Any] = {"channel": channel_name, "template": template_name,
                                  "to": address(channel, moment.profile) if channel else None,
                                  "content": None, "error": None}
        if template is None:
            option["error"] = f"template {template_name} is not in the applied version"
            return option
        message = {"variant": send.variant, "step": send.step, "category": send.category,
                   "variants": moment.variants}
        try:
            option["content"] = render_template(project, template, moment.profile, moment.entry,
                                                moment.event, moment.journey, message,
                                                snippets=snippets)
        except JourneyctlError as exc:
            option["error"] = exc.diagnostics[0].message
        return option
