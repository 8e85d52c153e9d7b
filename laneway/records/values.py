"""The values of the hot events, typed: what each event's `value` holds, key by key.

An event's `value` is JSON-like on the wire (a `map<Value>` in Avro, an object in JSON) and a
plain mapping on `Record.value`; these TypedDicts say which keys each event carries and of
what type, so that mypy checks every reader (the appliers, the worklist projection, the
engine service's timer heap) and every writer that annotates its value. Keys stay as written
on the wire: a value is the mapping itself, so nothing is converted and the recorded bytes
cannot change.

Why TypedDicts and not frozen dataclasses: the appliers read a value for every event the
engine writes (47 events for an instance of ten sequential script tasks). Building a frozen
slotted dataclass per event cost about 0.5 µs (a plain slotted class 0.2 µs, a NamedTuple
0.2 µs) against 0.06 µs for the dict reads it replaces: 5 to 8 % of the engine core's time
per instance. A TypedDict costs nothing at run time.

`from_value(cls, mapping)` checks a value read from outside (a topic, the audit log) against
its class and returns it typed; `to_value(value)` is the plain dict to put on a record.
`EVENT_VALUES` names the class of each typed event.
"""

# no `from __future__ import annotations`: TypedDict tells NotRequired keys only from
# evaluated annotations
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, TypeVar, cast, get_type_hints

from laneway.records._intents import Event

# --- elements and tokens -------------------------------------------------------------------


class ParentLink(TypedDict):
    """The call activity that started an instance (on its process's ELEMENT_ACTIVATED)."""

    instanceId: str
    elementKey: int
    # how deep the called instance is: 1 for a child of a root instance (recordVersion 2)
    depth: NotRequired[int]


class ElementActivated(TypedDict):
    """ELEMENT_ACTIVATED. For the process itself (element type `process`) it also names the
    process version, the business key and the calling parent; for an element of a
    multi-instance body its loop counter, for the body how many instances it runs."""

    key: int
    processId: NotRequired[str]
    version: NotRequired[int]
    businessKey: NotRequired[str]
    parent: NotRequired[ParentLink]
    trigger: NotRequired[dict[str, Any]]
    """The process started by a trigger: `{schedule, type, dedupKey, item}`."""
    loopCounter: NotRequired[int]
    miTotal: NotRequired[int]


class ElementLeft(TypedDict):
    """ELEMENT_COMPLETED and ELEMENT_TERMINATED; the process's completion carries its final
    variables."""

    key: int
    variables: NotRequired[dict[str, Any]]


class SequenceFlowTaken(TypedDict):
    """SEQUENCE_FLOW_TAKEN (element id: the flow); `join` when the target is a joining
    gateway, which then counts the flow until a JOIN_CONSUMED."""

    target: str
    join: NotRequired[bool]


class JoinConsumed(TypedDict):
    """JOIN_CONSUMED: a joining gateway fired on these incoming flows."""

    gateway: str
    flows: list[str]


class ComplexGatewayPhase(TypedDict):
    """COMPLEX_GATEWAY_FIRED (its activation condition held: it sent tokens on and now waits
    for the tokens still to come on its other incoming flows) and COMPLEX_GATEWAY_RESET (they
    came, or can no longer come: a new round starts). `flows`: the incoming flows whose
    tokens the first phase consumed (FIRED) or the reset consumed (RESET)."""

    gateway: str
    flows: list[str]


class AdHocDecided(TypedDict):
    """AD_HOC_DECIDED (element: the ad-hoc subprocess): which inner activities start now,
    whether it takes no more choices (`done`), and who chose (`decidedBy`: `handler` for a
    decision job's answer, whose principal the record carries; `engine` for the default
    order; `completionCondition` when it held)."""

    activities: list[str]
    done: bool
    decidedBy: str


class VariablesUpdated(TypedDict):
    """VARIABLES_UPDATED: new values of variables in the scope of the record's token."""

    variables: dict[str, Any]


# --- jobs ----------------------------------------------------------------------------------


class JobCreated(TypedDict):
    """JOB_CREATED: work for a connector (the `Job` record of `jobs.<type>` projects it). The
    lane keys are there when the element is in a lane; a decision's job adds `decision`
    (true), `flows` and `gatewayType`, a script's `script`, an escalation's notification the
    task's keys."""

    key: int
    type: str
    retries: int
    variables: dict[str, Any]
    headers: dict[str, str]
    elementName: str | None
    attributes: dict[str, str]
    lane: NotRequired[str]
    laneId: NotRequired[str]
    persona: NotRequired[str | None]
    notification: NotRequired[bool]
    taskKey: NotRequired[int]
    dueDate: NotRequired[int]
    assignee: NotRequired[str]
    decision: NotRequired[bool]
    flows: NotRequired[list[dict[str, Any]]]
    gatewayType: NotRequired[str]


class JobCompleted(TypedDict):
    """JOB_COMPLETED, with the connector's result."""

    key: int
    type: str
    variables: NotRequired[dict[str, Any]]


class JobFailed(TypedDict):
    """JOB_FAILED: the retries left (an incident follows at zero)."""

    key: int
    type: str
    retries: int
    errorMessage: str


class JobGone(TypedDict):
    """JOB_CANCELED and JOB_ERROR_THROWN (the latter with the error's code and message)."""

    key: int
    type: str
    errorCode: NotRequired[str]
    errorMessage: NotRequired[str]


# --- user tasks ----------------------------------------------------------------------------


class UserTaskCreated(TypedDict):
    """USER_TASK_CREATED: a task in the worklist, with who may work on it (docs/records.md)."""

    key: int
    processId: str
    version: int
    elementName: str | None
    attributes: dict[str, str]
    persona: str | None
    lane: NotRequired[str]
    laneId: NotRequired[str]
    form: NotRequired[str]
    assignee: NotRequired[str]
    candidateGroups: NotRequired[list[str]]
    candidateUsers: NotRequired[list[str]]
    assignmentErrors: NotRequired[list[str]]
    dueDate: NotRequired[int]
    escalationConnector: NotRequired[str]
    variables: NotRequired[dict[str, Any]]


class UserTaskClaim(TypedDict):
    """USER_TASK_CLAIMED (the new claimant) and USER_TASK_UNCLAIMED (who had it)."""

    key: int
    claimant: str


class UserTaskEscalated(TypedDict):
    """USER_TASK_ESCALATED: the due date it passed, and the connector told, if any."""

    key: int
    dueDate: int
    escalationConnector: NotRequired[str]


class UserTaskCompleted(TypedDict):
    """USER_TASK_COMPLETED, with the person's result."""

    key: int
    variables: dict[str, Any]


class KeyOnly(TypedDict):
    """USER_TASK_CANCELED, TIMER_CANCELED, MESSAGE_SUBSCRIPTION_DELETED,
    SIGNAL_SUBSCRIPTION_DELETED: the key of what ended."""

    key: int


# --- timers, subscriptions, incidents ------------------------------------------------------


class TimerCreated(TypedDict):
    """TIMER_CREATED: `due` in epoch milliseconds; `repetitions` None repeats for ever."""

    key: int
    due: int
    elementId: str
    repetitions: NotRequired[int | None]
    fired: NotRequired[int]
    expression: NotRequired[str]
    timerKind: NotRequired[str]


class TimerTriggered(TypedDict):
    """TIMER_TRIGGERED."""

    key: int
    due: int
    elementId: str


class MessageSubscriptionCreated(TypedDict):
    """MESSAGE_SUBSCRIPTION_CREATED: the element waits for a message by name and key."""

    key: int
    name: str
    correlationKey: str
    elementId: str


class MessageSubscriptionCorrelated(TypedDict):
    """MESSAGE_SUBSCRIPTION_CORRELATED; `close` unless the subscription stays open (an
    event subprocess's non-interrupting start)."""

    key: int
    name: str
    messageId: str | None
    close: bool


class SignalSubscriptionCreated(TypedDict):
    """SIGNAL_SUBSCRIPTION_CREATED."""

    key: int
    name: str
    elementId: str


class IncidentCreated(TypedDict):
    """INCIDENT_CREATED: `errorType` an `IncidentType`; `stage` where resolving it picks up
    again (`activate`, `complete` or `job`)."""

    key: int
    errorType: str
    message: str
    jobKey: NotRequired[int]
    stage: NotRequired[str]


class IncidentResolved(TypedDict):
    """INCIDENT_RESOLVED; `reason` is `resolved` (by an operator) or `left` (the element
    ended)."""

    key: int
    reason: NotRequired[str]


class CompensationSubscriptionCreated(TypedDict):
    """COMPENSATION_SUBSCRIPTION_CREATED, about the element that completed (its token) in its
    scope: its kind and local variables; what completed inside it goes with it."""

    elementKey: int
    kind: str
    variables: dict[str, Any]


class CompensationSubscriptionsDeleted(TypedDict):
    """COMPENSATION_SUBSCRIPTIONS_DELETED: the compensable activities of a scope that ended
    without becoming compensable itself (terminated, or a handler's leftovers)."""

    scopeKey: int


class CompensationStarted(TypedDict):
    """COMPENSATION_STARTED, about the thrower (a compensation throw or end event, or a cancel
    end event): the compensable activities of `scopeKey` it takes (`compensated`, keys), and
    the handlers that run for them one after another (`handlers`: each with the `path` of keys
    from those activities down to the one it compensates, the `handler` id and, for a
    compensation event subprocess, `scoped: true`); `wait` whether the thrower waits."""

    scopeKey: int
    compensated: list[int]
    handlers: list[dict[str, Any]]
    wait: bool
    activityRef: NotRequired[str]


class CompensationHandlerActivated(TypedDict):
    """COMPENSATION_HANDLER_ACTIVATED, about the handler element about to activate (its token):
    the compensation it belongs to (`throwerKey`) and the activity it compensates."""

    throwerKey: int
    elementKey: int
    elementId: str


class CompensationCompleted(TypedDict):
    """COMPENSATION_COMPLETED: every handler of the compensation `throwerKey` finished, or
    (`aborted`) its thrower or running handler was terminated."""

    throwerKey: int
    aborted: NotRequired[bool]


EVENT_VALUES: Mapping[str, type[Any]] = {
    Event.ELEMENT_ACTIVATED.value: ElementActivated,
    Event.ELEMENT_COMPLETED.value: ElementLeft,
    Event.ELEMENT_TERMINATED.value: ElementLeft,
    Event.SEQUENCE_FLOW_TAKEN.value: SequenceFlowTaken,
    Event.JOIN_CONSUMED.value: JoinConsumed,
    Event.VARIABLES_UPDATED.value: VariablesUpdated,
    Event.COMPLEX_GATEWAY_FIRED.value: ComplexGatewayPhase,
    Event.COMPLEX_GATEWAY_RESET.value: ComplexGatewayPhase,
    Event.AD_HOC_DECIDED.value: AdHocDecided,
    Event.JOB_CREATED.value: JobCreated,
    Event.JOB_COMPLETED.value: JobCompleted,
    Event.JOB_FAILED.value: JobFailed,
    Event.JOB_CANCELED.value: JobGone,
    Event.JOB_ERROR_THROWN.value: JobGone,
    Event.USER_TASK_CREATED.value: UserTaskCreated,
    Event.USER_TASK_CLAIMED.value: UserTaskClaim,
    Event.USER_TASK_UNCLAIMED.value: UserTaskClaim,
    Event.USER_TASK_ESCALATED.value: UserTaskEscalated,
    Event.USER_TASK_COMPLETED.value: UserTaskCompleted,
    Event.USER_TASK_CANCELED.value: KeyOnly,
    Event.TIMER_CREATED.value: TimerCreated,
    Event.TIMER_TRIGGERED.value: TimerTriggered,
    Event.TIMER_CANCELED.value: KeyOnly,
    Event.MESSAGE_SUBSCRIPTION_CREATED.value: MessageSubscriptionCreated,
    Event.MESSAGE_SUBSCRIPTION_CORRELATED.value: MessageSubscriptionCorrelated,
    Event.MESSAGE_SUBSCRIPTION_DELETED.value: KeyOnly,
    Event.SIGNAL_SUBSCRIPTION_CREATED.value: SignalSubscriptionCreated,
    Event.SIGNAL_SUBSCRIPTION_DELETED.value: KeyOnly,
    Event.INCIDENT_CREATED.value: IncidentCreated,
    Event.INCIDENT_RESOLVED.value: IncidentResolved,
    Event.COMPENSATION_SUBSCRIPTION_CREATED.value: CompensationSubscriptionCreated,
    Event.COMPENSATION_SUBSCRIPTIONS_DELETED.value: CompensationSubscriptionsDeleted,
    Event.COMPENSATION_STARTED.value: CompensationStarted,
    Event.COMPENSATION_HANDLER_ACTIVATED.value: CompensationHandlerActivated,
    Event.COMPENSATION_COMPLETED.value: CompensationCompleted,
}
"""The value class of each typed event intent."""

V = TypeVar("V")

# what a JSON-like value of each declared type may be (bool is an int in Python: refused)
_PLAIN: Mapping[Any, tuple[type, ...]] = {
    int: (int,), str: (str,), bool: (bool,), float: (float, int), dict: (dict, Mapping),
    list: (list, tuple),
}


def from_value(cls: type[V], value: Mapping[str, Any]) -> V:
    """`value` typed as `cls`, after checking that every key `cls` requires is there with a
    value of its type (keys it does not name are let through: later versions may add some).
    Raises ValueError naming the first key that does not fit."""
    for key, allowed, optional in _required(cls):
        if key not in value:
            raise ValueError(f"Expected the key '{key}' in a {cls.__name__} value, but it is "
                             "missing")
        item = value[key]
        if item is None and optional:
            continue
        if not isinstance(item, allowed) or (isinstance(item, bool) and bool not in allowed):
            raise ValueError(f"Expected '{key}' of a {cls.__name__} value to be "
                             f"{' or '.join(t.__name__ for t in allowed)}, but it is "
                             f"{type(item).__name__}")
    return cast(V, value)


def to_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """The plain dict to put on a record as its value."""
    return dict(value)


_Check = tuple[tuple[str, tuple[type, ...], bool], ...]
_CHECKS: dict[type, _Check] = {}


def _required(cls: type[Any]) -> _Check:
    """(key, the Python types its value may have, whether it may be None) of each key `cls`
    requires, worked out once per class."""
    known = _CHECKS.get(cls)
    if known is None:
        known = _CHECKS[cls] = _checks(cls)
    return known


def _checks(cls: type[Any]) -> _Check:
    hints = get_type_hints(cls)
    out = []
    for key in sorted(cls.__required_keys__):
        hint = hints[key]
        args = getattr(hint, "__args__", ())
        optional = type(None) in args
        base = getattr(hint, "__origin__", hint)
        if optional:
            # `X | None`: check X
            inner = next(a for a in args if a is not type(None))
            base = getattr(inner, "__origin__", inner)
        allowed = _PLAIN.get(base, (dict, Mapping) if _is_typeddict(base) else (object,))
        out.append((key, allowed, optional))
    return tuple(out)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__required_keys__")
