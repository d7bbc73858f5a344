"""The journey interpreter (SPEC §4–§5): `(state, input, now) -> (state, effects)`.

It reads no clock, does no I/O and keeps nothing between calls but the compiled project: the
simulator and the daemon feed it the same inputs and get the same effects. Within one input the
order is fixed by the spec: an event updates the profile (`identify`) and the user's history,
then is offered to the journeys in id order; within a journey it is applied to the user's
instances (goal, then `exit_on`, then a waiting `wait_for`) before it is considered as a
trigger. Steps that run at one instant run in order with no time passing.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right, insort
from collections.abc import Callable, Sequence
from typing import Any, assert_never

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.engine.celrt import EvalError, Evaluator
from journeyctl.engine.compiled import Compiled, CompiledJourney, compile_project
from journeyctl.engine.inputs import Event, Input, Merge, Migrate, Tick, TimerFired
from journeyctl.engine.localtime import next_local, user_zone
from journeyctl.engine.merge import fold
from journeyctl.engine.policy import Hold, SendTo, Suppress, decide, record
from journeyctl.engine.split import assign, bucket
from journeyctl.engine.state import (
    Instance,
    JourneyState,
    UserState,
    Wait,
    WaitKind,
    merge_profile,
    set_path,
)
from journeyctl.engine.state import copy_json as _copy
from journeyctl.flow import Edge

MAX_STEPS_PER_INPUT = 10_000  # validate rejects instant cycles; this guards the engine anyway
INACTIVE = "inactive"

Out = list[fx.Effect]  # the effects of one input, appended to as the engine goes


class EngineError(RuntimeError):
    """The engine met a state it cannot continue from (a bug, or an unvalidated project)."""


class Engine:
    def __init__(self, project: m.Project, only: set[str] | None = None,
                 versions: dict[str, int] | None = None,
                 older: Sequence[tuple[m.Journey, int]] = ()) -> None:
        self.compiled: Compiled = compile_project(project, only, versions, older)
        self.cel = Evaluator()
        self._subscriptions = {s.event: s.changes for s in project.subscriptions}
        self._consents = {name: channel.consent for name, channel in project.channels.items()
                          if channel.consent}

    def step(self, state: UserState, event: Input, now: float) -> tuple[UserState, Out]:
        """Apply one input at time `now`; returns the (same, changed) state and the effects."""
        out: Out = []
        match event:
            case Event():
                self._event(state, event, now, out)
            case TimerFired():
                self._timer(state, event, now, out)
            case Tick():
                cj = self.compiled.by_id.get(event.journey)
                if cj is not None:
                    self._try_enter(state, cj, None, now, out)
            case Migrate():
                self._migrate(state, event, now, out)
            case Merge():
                fold(state, event, self.compiled, now, out)
            case _:
                assert_never(event)
        return state, out

    def _migrate(self, state: UserState, move: Migrate, now: float, out: Out) -> None:
        """Move an instance to `move.version` at `move.step`. A wait of the same kind there
        keeps its timer (it goes on waiting, now on the new version); otherwise the instance
        starts the new step afresh."""
        js = state.journeys.get(move.journey)
        inst = js.active if js is not None else None
        cj = self.compiled.versions.get((move.journey, move.version))
        if inst is None or inst.number != move.instance or cj is None or move.step not in cj.steps:
            return
        inst.version = move.version
        wait = inst.wait
        target = cj.steps[move.step]
        if wait is not None and _same_wait(wait.kind, target.action):
            wait.step = move.step
            return
        self._stop_waiting(state, cj, inst, out)
        self._run(state, cj, inst, Edge(move.step, move.step, "migrate"), now, out)

    # --- events ------------------------------------------------------------------------------

    def _event(self, state: UserState, event: Event, now: float, out: Out) -> None:
        if event.name == m.UNSUBSCRIBE:
            self._unsubscribe(state, event, now, out)
        if event.name in self._subscriptions:
            self._subscribe(state, event, now, out)
        if event.name == "identify" and event.properties:
            merge_profile(state.profile, _copy(event.properties))  # later merges change no event
            state.profile["user_id"] = state.user_id
            out.append(fx.ProfileUpdated(state.user_id, dict(event.properties), now))
        self._remember(state, event, now)
        for cj, names in self.compiled.inactive:
            if names is None or event.name in names:
                self._activity(state, cj, now, out)
        for journey_id in self.compiled.by_event.get(event.name, ()):
            self._offer(state, journey_id, event, now, out)
        if event.name in self.compiled.lookbacks:
            state.own("latest")[event.name] = (event.time, event.properties)

    def _subscribe(self, state: UserState, event: Event, now: float, out: Out) -> None:
        """`subscriptions:` — the consent the event changes, before any journey sees it (so
        no journey, entered before or after, sends against it). A `channel` property narrows
        the change to `consent.<channel>`."""
        channel = event.properties.get("channel")
        changes: dict[str, Any] = {}
        for path, value in self._subscriptions[event.name]:
            if not isinstance(channel, str) or path == f"consent.{channel}":
                set_path(changes, path, value)
        if changes:
            merge_profile(state.profile, _copy(changes))
            out.append(fx.ProfileUpdated(state.user_id, changes, now))  # merged, as identify

    def _unsubscribe(self, state: UserState, event: Event, now: float, out: Out) -> None:
        """The built-in `journeyctl.unsubscribe` (a one-click unsubscribe link): the named
        channel's consent attribute turns false, before any journey sees the event, as a
        `subscriptions:` change would. A channel that is not the project's, or has no
        `consent`, changes nothing."""
        channel = event.properties.get("channel")
        path = self._consents.get(channel) if isinstance(channel, str) else None
        if path is None:
            return
        changes: dict[str, Any] = {}
        set_path(changes, path, False)
        merge_profile(state.profile, _copy(changes))
        out.append(fx.ProfileUpdated(state.user_id, changes, now))  # merged, as identify

    def _remember(self, state: UserState, event: Event, now: float) -> None:
        """Keep the event for count(): only counted names, only for the longest window. The
        event's own time is kept (the daemon processes an event when it arrives, which can be
        after it happened), so the list is kept sorted."""
        window = self.compiled.count_windows.get(event.name)
        if window is None:
            return
        times = state.own("history").setdefault(event.name, [])
        insort(times, event.time)
        del times[: bisect_right(times, now - window)]

    def _of(self, journey_id: str, inst: Instance) -> CompiledJourney:
        """The version an instance runs on (it finishes on the one it started with)."""
        found = self.compiled.versions.get((journey_id, inst.version))
        return found if found is not None else self.compiled.by_id[journey_id]

    def _offer(self, state: UserState, journey_id: str, event: Event, now: float,
               out: Out) -> None:
        js = state.journeys.get(journey_id)
        if js is not None:
            self._goal(state, journey_id, js, event, now, out)
            inst = js.active
            if inst is not None and event.name in self._of(journey_id, inst).exit_on:
                self._exit_on(state, self._of(journey_id, inst), js, event, now, out)
            inst = js.active
            wait = inst.wait if inst is not None else None
            if (inst is not None and wait is not None and wait.kind == "wait_for"
                    and wait.event == event.name):
                self._wait_for_event(state, self._of(journey_id, inst), inst, event, now, out)
        cj = self.compiled.by_id.get(journey_id)  # absent once deleted: old instances only
        trigger = cj.journey.trigger if cj is not None else None
        if cj is not None and isinstance(trigger, m.EventTrigger) and event.name in trigger.events:
            self._try_enter(state, cj, event, now, out)

    def _goal(self, state: UserState, journey_id: str, js: JourneyState, event: Event,
              now: float, out: Out) -> None:
        """Convert each instance whose own goal this event meets, within its window."""
        js.recent = [i for i in js.recent if now <= i.entered_at + self._of(journey_id, i)
                     .goal_window]
        for inst in [i for i in (*js.recent, js.active) if i is not None and not i.converted]:
            cj = self._of(journey_id, inst)
            goal = cj.journey.goal
            if (goal is None or event.name not in cj.goal_events
                    or now > inst.entered_at + cj.goal_window):
                continue
            if goal.where and not self._holds(goal.where, state, cj, inst, event.properties, now,
                                              out, "goal.where"):
                continue
            inst.converted = True
            value = self._value(goal.value, state, cj, inst, event.properties, now, out)
            out.append(fx.Converted(
                state.user_id, cj.id, inst.number, now, value, tuple(sorted(inst.variants.items())),
                tuple(fx.MessageRef(*sent) for sent in inst.sent)))
            if goal.exit and inst.active:
                self._end(state, cj, js, inst, "goal", now, out)

    def _value(self, expr: m.Expr | None, state: UserState, cj: CompiledJourney, inst: Instance,
               props: dict[str, Any], now: float, out: Out) -> float:
        if expr is None:
            return 0.0
        try:
            value = self.cel.evaluate(expr.source, state, now,
                                      self._variables(state, cj, inst, props, now))
        except EvalError as exc:
            out.append(fx.ExpressionFailed(state.user_id, cj.id, "goal.value", str(exc), now,
                                           exc.reason, expr.source))
            return 0.0
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else 0.0

    def _exit_on(self, state: UserState, cj: CompiledJourney, js: JourneyState, event: Event,
                 now: float, out: Out) -> None:
        inst = js.active
        assert inst is not None
        for rule in cj.exit_on[event.name]:
            if rule.where is None or self._holds(rule.where, state, cj, inst, event.properties,
                                                 now, out, "exit_on.where"):
                self._end(state, cj, js, inst, "exit_event", now, out)
                return

    def _wait_for_event(self, state: UserState, cj: CompiledJourney, inst: Instance,
                        event: Event, now: float, out: Out) -> None:
        assert inst.wait is not None
        step = cj.steps[inst.wait.step]
        action = step.action
        assert isinstance(action, m.WaitFor)
        if action.where and not self._holds(action.where, state, cj, inst, event.properties, now,
                                            out, f"{step.id}.where"):
            return
        inst.last_event = event.properties
        self._stop_waiting(state, cj, inst, out)
        self._run(state, cj, inst, cj.edges[step.id][0], now, out)

    # --- entry ---------------------------------------------------------------------------------

    def _activity(self, state: UserState, cj: CompiledJourney, now: float,
                  out: Out) -> None:
        """An event that counts as activity for an `inactive` trigger: a new quiet spell."""
        js = state.journey(cj.id)
        js.last_activity = now
        js.spell_fired = False
        if js.timer_token == 0:  # no inactivity timer pending: start one
            self._inactivity_timer(state, cj, js, now, out)

    def _inactivity_timer(self, state: UserState, cj: CompiledJourney, js: JourneyState,
                          now: float, out: Out) -> None:
        trigger = cj.journey.trigger
        assert isinstance(trigger, m.InactiveTrigger) and js.last_activity is not None
        js.timer_token = state.next_token()
        out.append(fx.SetTimer(state.user_id, f"{cj.id}#{INACTIVE}", js.timer_token,
                               js.last_activity + trigger.after.seconds))

    def _try_enter(self, state: UserState, cj: CompiledJourney, event: Event | None, now: float,
                   out: Out) -> None:
        journey = cj.journey
        props = event.properties if event is not None else {}
        trigger = journey.trigger
        if isinstance(trigger, m.EventTrigger) and trigger.where and not self._holds(
                trigger.where, state, cj, None, props, now, out, "trigger.where"):
            return
        if journey.status != "active":
            out.append(fx.NotEntered(state.user_id, cj.id, "paused", now))
            return
        if journey.audience and not self._holds(journey.audience, state, cj, None, props, now,
                                                out, "audience"):
            out.append(fx.NotEntered(state.user_id, cj.id, "audience", now))
            return
        js = state.journey(cj.id)
        if not self._reentry_allows(journey.entry, js, now):
            out.append(fx.NotEntered(state.user_id, cj.id, "reentry", now))
            return
        first = not any(other.entered for other in state.journeys.values())
        js.entered += 1
        js.last_entered_at = now
        inst = Instance(js.entered, now, props, props, cj.version)
        js.active = inst
        out.append(fx.Entered(state.user_id, cj.id, inst.number, now, cj.version, first))
        self._run(state, cj, inst, None, now, out)

    @staticmethod
    def _reentry_allows(entry: m.Entry, js: JourneyState, now: float) -> bool:
        if js.active is not None:
            return False
        if entry.reentry == "never":
            return js.entered == 0
        if entry.reentry == "cooldown" and entry.cooldown and js.last_entered_at is not None:
            return now >= js.last_entered_at + entry.cooldown.seconds
        return True

    # --- timers --------------------------------------------------------------------------------

    def _timer(self, state: UserState, timer: TimerFired, now: float, out: Out) -> None:
        journey_id, _, what = timer.key.rpartition("#")
        js = state.journeys.get(journey_id)
        if js is None:
            return
        if what == INACTIVE:
            latest = self.compiled.by_id.get(journey_id)
            if latest is not None:
                self._inactivity_due(state, latest, js, timer, now, out)
            return
        inst = js.active
        wait = inst.wait if inst is not None else None
        if inst is None or wait is None or str(inst.number) != what or wait.token != timer.token:
            return  # stale: the instance moved on since this timer was set
        compiled = self.compiled
        if (journey_id, inst.version) not in compiled.versions and journey_id not in compiled.by_id:
            return  # a journey not running in this engine (a --journey subset)
        cj = self._of(journey_id, inst)
        inst.wait = None
        step = cj.steps[wait.step]
        match wait.kind:
            case "hold":
                edge = self._send(state, cj, inst, step, now, out, held=True)
                if edge is not None:
                    self._run(state, cj, inst, edge, now, out)
            case "wait_for":
                self._run(state, cj, inst, cj.edges[step.id][1], now, out)  # the timeout edge
            case "wait" | "until":
                self._run(state, cj, inst, cj.edges[step.id][0], now, out)
            case _:
                assert_never(wait.kind)

    def _inactivity_due(self, state: UserState, cj: CompiledJourney, js: JourneyState,
                        timer: TimerFired, now: float, out: Out) -> None:
        if timer.token != js.timer_token or js.last_activity is None:
            return
        trigger = cj.journey.trigger
        assert isinstance(trigger, m.InactiveTrigger)
        js.timer_token = 0
        if js.last_activity + trigger.after.seconds > now:  # activity since: wait on
            self._inactivity_timer(state, cj, js, now, out)
        elif not js.spell_fired:
            js.spell_fired = True
            self._try_enter(state, cj, None, now, out)

    # --- running steps -------------------------------------------------------------------------

    def _run(self, state: UserState, cj: CompiledJourney, inst: Instance, edge: Edge | None,
             now: float, out: Out) -> None:
        """Run steps from `edge` (None: the first step) until the instance waits or ends."""
        source: str | None = edge.source if edge is not None else None
        label = edge.label if edge is not None else ""
        target = edge.target if edge is not None else cj.first
        for _ in range(MAX_STEPS_PER_INPUT):
            if target == m.EXIT:
                js = state.journey(cj.id)
                self._end(state, cj, js, inst, "completed", now, out, source, label)
                return
            step = cj.steps[target]
            visit = inst.visits.get(step.id, 0) + 1
            inst.visits[step.id] = visit
            out.append(fx.StepReached(state.user_id, cj.id, inst.number, step.id, now, source,
                                      label, visit))
            edge = self._act(state, cj, inst, step, now, out)
            if edge is None:
                return  # waiting, or ended
            source, label, target = edge.source, edge.label, edge.target
        raise EngineError(f"journey {cj.id} ran {MAX_STEPS_PER_INPUT} steps at one instant")

    def _act(self, state: UserState, cj: CompiledJourney, inst: Instance, step: m.Step,
             now: float, out: Out) -> Edge | None:
        """Do one step; return the edge to follow now, or None when the instance waits/ends."""
        action = step.action
        edges = cj.edges[step.id]
        match action:
            case m.Wait():
                self._wait(state, cj, inst, step, "wait", now + action.duration.seconds, now, out)
                return None
            case m.WaitUntil():
                tz = user_zone(state.profile, self.compiled.tz)
                due = next_local(now, action.time, action.days, tz)
                if due <= now:
                    return edges[0]
                self._wait(state, cj, inst, step, "until", due, now, out)
                return None
            case m.WaitFor():
                return self._start_wait_for(state, cj, inst, step, action, now, out)
            case m.Send():
                return self._send(state, cj, inst, step, now, out, held=False)
            case m.Branch():
                return self._branch(state, cj, inst, step, action, now, out)
            case m.Split():
                variant = assign(action.variants, bucket(cj.id, step.id, state.user_id))
                inst.variants[step.id] = variant.name
                out.append(fx.VariantAssigned(state.user_id, cj.id, inst.number, step.id,
                                              variant.name, now))
                return edges[action.variants.index(variant)]
            case m.Update():
                self._update(state, cj, inst, action, now, out)
                return edges[0]
            case m.Loop():
                done = inst.loops.get(step.id, 0)
                if done < action.times:
                    inst.loops[step.id] = done + 1
                    return edges[0]
                return edges[1]
            case m.ExitStep():
                js = state.journey(cj.id)
                self._end(state, cj, js, inst, "completed", now, out, step.id, edges[0].label)
                return None
            case _:
                assert_never(action)

    def _wait(self, state: UserState, cj: CompiledJourney, inst: Instance, step: m.Step,
              kind: WaitKind, due: float, now: float, out: Out, event: str | None = None
              ) -> None:
        token = state.next_token()
        inst.wait = Wait(kind, step.id, due, token, event)
        out.append(fx.SetTimer(state.user_id, f"{cj.id}#{inst.number}", token, due))

    def _stop_waiting(self, state: UserState, cj: CompiledJourney, inst: Instance,
                      out: Out) -> None:
        if inst.wait is not None:
            inst.wait = None
            out.append(fx.CancelTimer(state.user_id, f"{cj.id}#{inst.number}"))

    def _start_wait_for(self, state: UserState, cj: CompiledJourney, inst: Instance,
                        step: m.Step, action: m.WaitFor, now: float, out: Out) -> Edge | None:
        lookback = action.lookback
        latest = state.latest.get(action.event) if lookback is not None else None
        if lookback is not None and latest is not None:
            when, props = latest
            since = now - lookback.seconds if isinstance(lookback, m.Duration) else \
                inst.entered_at  # "entry": since the instance entered
            if when >= since and (action.where is None or self._holds(
                    action.where, state, cj, inst, props, now, out, f"{step.id}.where")):
                inst.last_event = props
                return cj.edges[step.id][0]
        self._wait(state, cj, inst, step, "wait_for", now + action.timeout.seconds, now, out,
                   action.event)
        return None

    def _send(self, state: UserState, cj: CompiledJourney, inst: Instance, step: m.Step,
              now: float, out: Out, held: bool) -> Edge | None:
        action = step.action
        assert isinstance(action, m.Send)
        decision = decide(self.compiled, cj, state, action, now)
        match decision:
            case Hold():
                out.append(fx.Held(state.user_id, cj.id, inst.number, step.id, decision.until,
                                   decision.reason, now))
                self._wait(state, cj, inst, step, "hold", decision.until, now, out)
                return None
            case Suppress():
                out.append(fx.Suppressed(state.user_id, cj.id, inst.number, step.id,
                                         decision.reason, now))
            case SendTo():
                self._emit(state, cj, inst, step, action, decision.option, now, out)
            case _:
                assert_never(decision)
        return cj.edges[step.id][0]

    def _emit(self, state: UserState, cj: CompiledJourney, inst: Instance, step: m.Step,
              action: m.Send, index: int, now: float, out: Out) -> None:
        """The message of a send the policy lets through, on option `index`."""
        option = action.options[index]
        if action.category == "promotional":
            record(self.compiled, state, option.channel, cj.id, now)
        inst.sent.append((step.id, option.channel, option.template, now))
        variant = ",".join(f"{k}={v}" for k, v in sorted(inst.variants.items())) or None
        moment = fx.Moment(_copy(state.profile), inst.entry, inst.last_event,
                           journey_variable(cj.id, inst, now), dict(inst.variants))
        out.append(fx.Send(state.user_id, cj.id, inst.number, step.id,
                           inst.visits.get(step.id, 1), option.channel, option.template,
                           action.category, now, variant, index, moment))

    def _branch(self, state: UserState, cj: CompiledJourney, inst: Instance, step: m.Step,
                action: m.Branch, now: float, out: Out) -> Edge:
        edges = cj.edges[step.id]
        for index, arm in enumerate(action.arms):
            if arm.condition is None or self._holds(arm.condition, state, cj, inst,
                                                    inst.last_event, now, out,
                                                    f"{step.id}.if"):
                return edges[index]
        return edges[len(action.arms)]  # no arm held and no `else` written: the following step

    def _update(self, state: UserState, cj: CompiledJourney, inst: Instance,
                action: m.Update, now: float, out: Out) -> None:
        changes: dict[str, Any] = {}
        for attr, expr in action.set:
            try:
                value = self.cel.evaluate(expr.source, state, now,
                                          self._variables(state, cj, inst, inst.last_event, now))
            except EvalError as exc:
                out.append(fx.ExpressionFailed(state.user_id, cj.id, f"update.{attr}", str(exc),
                                               now, exc.reason, expr.source))
                continue
            set_path(state.profile, attr, value)
            changes[attr] = value
        if changes:
            out.append(fx.ProfileUpdated(state.user_id, changes, now, cj.id))

    def _end(self, state: UserState, cj: CompiledJourney, js: JourneyState, inst: Instance,
             reason: fx.ExitReason, now: float, out: Out, step: str | None = None,
             label: str = "") -> None:
        where = step or (inst.wait.step if inst.wait is not None else None)
        self._stop_waiting(state, cj, inst, out)
        inst.ended = reason
        if js.active is inst:
            js.active = None
        if cj.goal_window and not inst.converted and now <= inst.entered_at + cj.goal_window:
            # a goal may still convert it; those past their window are dropped (bounded state)
            js.recent = [i for i in js.recent if now <= i.entered_at + cj.goal_window]
            js.recent.append(inst)
        out.append(fx.Exited(state.user_id, cj.id, inst.number, reason, now, where, label))

    # --- conditions ----------------------------------------------------------------------------

    def _variables(self, state: UserState, cj: CompiledJourney, inst: Instance | None,
                   event: dict[str, Any], now: float) -> Callable[[frozenset[str]],
                                                               dict[str, Any]]:
        def supply(needs: frozenset[str]) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for name in needs:
                if name == "event":
                    values[name] = event
                elif name == "entry":
                    values[name] = inst.entry if inst is not None else event
                elif name == "profile":
                    values[name] = state.profile
                elif name == "journey":
                    values[name] = journey_variable(cj.id, inst, now)
                elif name == "now":
                    values[name] = dt.datetime.fromtimestamp(now, dt.UTC)
            return values

        return supply

    def _holds(self, expr: m.Expr, state: UserState, cj: CompiledJourney, inst: Instance | None,
               event: dict[str, Any], now: float, out: Out, where: str) -> bool:
        try:
            result = self.cel.evaluate(expr.source, state, now,
                                       self._variables(state, cj, inst, event, now))
        except EvalError as exc:
            out.append(fx.ExpressionFailed(state.user_id, cj.id, where, str(exc), now,
                                           exc.reason, expr.source))
            return False
        return result is True


def _same_wait(kind: WaitKind, action: m.Action) -> bool:
    expected = {"wait": m.Wait, "until": m.WaitUntil, "wait_for": m.WaitFor, "hold": m.Send}
    return isinstance(action, expected.get(kind, type(None)))


def journey_variable(journey_id: str, inst: Instance | None, now: float) -> dict[str, Any]:
    entered = inst.entered_at if inst is not None else now
    return {"id": journey_id, "version": inst.version if inst is not None else 1,
            "entered_at": dt.datetime.fromtimestamp(entered, dt.UTC)}

