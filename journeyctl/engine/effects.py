"""What the engine asks its host to do or record: effects are plain data.

The simulator records them (and keeps timers in a heap); the daemon commits them with the state
change in one transaction (messages to the outbox, timers to the timer table).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from journeyctl.model import Category

ExitReason = Literal["completed", "goal", "exit_event"]
HoldReason = Literal["quiet_hours", "kr_night", "kakao_night"]
NotEnteredReason = Literal["where", "audience", "reentry", "paused"]


class Moment(NamedTuple):
    """The template variables of a message as they were when the engine sent it: later steps
    of the same input may still change the profile, assign a variant or end the instance."""

    profile: dict[str, Any]  # a copy
    entry: dict[str, Any]
    event: dict[str, Any]
    journey: dict[str, Any]  # the CEL/Liquid `journey` variable
    variants: dict[str, str]  # a copy


class Entered(NamedTuple):
    user_id: str
    journey: str
    instance: int
    time: float
    version: int = 1
    first: bool = False  # the user's first entry into any journey (counts users, additively)


class StepReached(NamedTuple):
    """An instance arrived at a step (each loop visit; a send held by quiet hours once)."""

    user_id: str
    journey: str
    instance: int
    step: str
    time: float
    source: str | None = None  # the step it came from (None: from the trigger)
    label: str = ""  # the edge taken, as `journeyctl.flow` labels it
    visit: int = 1


class MessageRef(NamedTuple):
    step: str
    channel: str
    template: str
    time: float


class Send(NamedTuple):
    """One message to deliver. The idempotency key is derived from (instance, step, visit)."""

    user_id: str
    journey: str
    instance: int
    step: str
    visit: int
    channel: str
    template: str
    category: Category
    time: float
    variant: str | None  # "<split step>=<variant>" pairs, sorted, joined by ","
    option: int = 0  # 0: the primary channel; n: the n-th fallback
    # What a host renders the message from, as it was when sent. Hosts that keep messages
    # without rendering them drop it.
    moment: Moment | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.user_id}:{self.journey}:{self.instance}:{self.step}:{self.visit}"


class Suppressed(NamedTuple):
    user_id: str
    journey: str
    instance: int
    step: str
    reason: str  # unreachable | no_consent | suppressed_list | holdout | quiet_hours | cap:…
    time: float


class Held(NamedTuple):
    """A promotional send waits for quiet hours (or the kr night rule) to end."""

    user_id: str
    journey: str
    instance: int
    step: str
    until: float
    reason: HoldReason
    time: float


class SetTimer(NamedTuple):
    user_id: str
    key: str
    token: int
    due: float


class CancelTimer(NamedTuple):
    user_id: str
    key: str


class VariantAssigned(NamedTuple):
    user_id: str
    journey: str
    instance: int
    step: str
    variant: str
    time: float


class ProfileUpdated(NamedTuple):
    user_id: str
    changes: dict[str, Any]
    time: float
    journey: str | None = None  # None: an `identify` event


class Converted(NamedTuple):
    user_id: str
    journey: str
    instance: int
    time: float
    value: float
    variants: tuple[tuple[str, str], ...]  # (split step, variant) assigned before it
    messages: tuple[MessageRef, ...]  # messages of the instance sent before it


class Exited(NamedTuple):
    user_id: str
    journey: str
    instance: int
    reason: ExitReason
    time: float
    step: str | None = None  # where the instance was
    label: str = ""  # completed: the label of the edge it left by (for diagrams)


class InstanceMoved(NamedTuple):
    """An instance of another user joined this user's (identity merge), renumbered: the host
    records it as this user's, active at `step` (None: no step reached yet)."""

    user_id: str
    journey: str
    instance: int
    version: int
    step: str | None
    entered_at: float
    source: str  # the user it came from


class ExpressionFailed(NamedTuple):
    """A condition failed at run time: it counted as false (a value as 0, an update was not
    made)."""

    user_id: str
    journey: str
    where: str  # trigger.where | audience | goal.where | goal.value | exit_on.where | ...
    error: str
    time: float
    # error: it raised (a missing attribute, a type error); over_budget: it was not run, as it
    # may cost more than the limit with this data (`journeyctl.celcost`)
    reason: str = "error"
    expression: str = ""  # its source


class NotEntered(NamedTuple):
    """The trigger matched but the user did not enter, and why (for traces)."""

    user_id: str
    journey: str
    reason: NotEnteredReason
    time: float


Effect = (Entered | StepReached | Send | Suppressed | Held | SetTimer | CancelTimer
          | VariantAssigned | ProfileUpdated | Converted | Exited | ExpressionFailed | NotEntered
          | InstanceMoved)

__all__ = [
    "CancelTimer", "Converted", "Effect", "Entered", "ExitReason", "Exited", "ExpressionFailed",
    "Held", "HoldReason", "InstanceMoved", "MessageRef", "NotEntered", "NotEnteredReason",
    "ProfileUpdated", "Send", "SetTimer", "StepReached", "Suppressed", "VariantAssigned",
]
