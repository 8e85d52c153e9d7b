"""Appliers: (state, event) -> new state. The only code that changes engine state.

The live engine applies each event the moment it writes it; recovery and the audit service's
replay apply stored events with the same functions, so both rebuild the same state.

Appliers are registered by (intent, version) in `APPLIERS`, as Zeebe's `EventAppliers`: an
event is applied by the applier of the version it was written with, so a later change to what
an event does to the state is a new version next to the old one, and an old log replays with
the meaning it had. The writer stamps an event with the latest version of its intent as
`recordVersion` in its value; an event without it is version 1 (every event written before
versions existed). docs/engine.md says how to add a version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from laneway.engine.state import (
    MI_BODY_KIND,
    PROCESS_KIND,
    BufferedMessage,
    CompensationRun,
    CompensationSub,
    ElementInstance,
    EngineState,
    Incident,
    InstanceState,
    InstanceStatus,
    Job,
    ParentRef,
    ProcessSubscription,
    Subscription,
    Timer,
    UserTask,
)
from laneway.records import Event, Record, RecordKind
from laneway.records.values import (
    AdHocDecided,
    CompensationCompleted,
    CompensationHandlerActivated,
    CompensationStarted,
    CompensationSubscriptionCreated,
    CompensationSubscriptionsDeleted,
    ComplexGatewayPhase,
    ElementActivated,
    ElementLeft,
    IncidentCreated,
    JobCreated,
    JobFailed,
    JoinConsumed,
    KeyOnly,
    MessageSubscriptionCorrelated,
    MessageSubscriptionCreated,
    SequenceFlowTaken,
    SignalSubscriptionCreated,
    TimerCreated,
    UserTaskClaim,
    UserTaskCreated,
    VariablesUpdated,
)

RECORD_VERSION = "recordVersion"
"""The key of an event's value that names its applier version (absent: version 1)."""

# (state, the event's instance if it has one, the event, its value)
Applier = Callable[[EngineState, InstanceState | None, Record, Any], None]


class UnknownVersionError(ValueError):
    """An event written with an applier version this engine does not have (a newer engine
    wrote it): applying it with another version's meaning would be wrong."""


# read per event: an enum member read from its class costs a descriptor call, a global does not
_EVENT_KIND = RecordKind.EVENT
_COMPLETED = Event.ELEMENT_COMPLETED.value


def apply_event(state: EngineState, record: Record) -> None:
    """Apply one event to the state with the applier of its version (rejections and intents
    without an applier change nothing)."""
    # compared as a string: Enum.value goes through a descriptor, and this runs per event
    if record.kind != _EVENT_KIND:
        return
    value = record.value
    if RECORD_VERSION in value:
        fn = _versioned(record.intent, value[RECORD_VERSION])
    else:
        fn = _FIRST.get(record.intent)
    if fn is None:
        return
    fn(state, state.instances.get(record.instance_id), record, value)
    # looked up again: the event may have created the instance
    inst = state.instances.get(record.instance_id)
    if inst is not None:
        key = value.get("key")
        if isinstance(key, int) and key >= inst.next_key:
            inst.next_key = key + 1


def _versioned(intent: str, version: Any) -> Applier | None:
    fn = APPLIERS.get((intent, version)) if type(version) is int else None
    if fn is None and intent in LATEST_VERSION:
        raise UnknownVersionError(
            f"Expected {intent} version 1 to {LATEST_VERSION[intent]}, but the event is of "
            f"version {version!r}: it was written by a newer engine")
    return fn


# --- elements and tokens ---------------------------------------------------------------------

def element_activated_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: ElementActivated) -> None:
    """A process starts an instance; an element becomes a live token in its scope."""
    if rec.element_type == PROCESS_KIND:
        parent = v.get("parent")
        inst = InstanceState(
            instance_id=rec.instance_id,
            process_id=v["processId"],
            version=v["version"],
            business_key=v.get("businessKey"),
            parent=ParentRef(parent["instanceId"], parent["elementKey"]) if parent else None,
            root_key=rec.token_id,
        )
        state.instances[rec.instance_id] = inst
        inst.elements[rec.token_id] = ElementInstance(rec.token_id, rec.element_id, PROCESS_KIND, 0)
        return
    assert inst is not None
    inst.elements[rec.token_id] = ElementInstance(
        rec.token_id, rec.element_id, rec.element_type, rec.scope_id,
        loop_counter=v.get("loopCounter", 0), mi_total=v.get("miTotal", 0),
    )
    scope = inst.elements[rec.scope_id]
    scope.children += 1
    if scope.kind == MI_BODY_KIND:
        scope.mi_started += 1


def element_activated_v2(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: ElementActivated) -> None:
    """As version 1; a called instance also keeps how deep it is in the call chain (the
    parent's `depth`), which bounds a process that calls itself."""
    element_activated_v1(state, inst, rec, v)
    parent = v.get("parent") if rec.element_type == PROCESS_KIND else None
    if parent and parent.get("depth"):
        called = state.instances[rec.instance_id]
        assert called.parent is not None
        called.parent.depth = int(parent["depth"])


def element_left_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                    v: ElementLeft) -> None:
    """An element completed or was terminated; the process's end ends the instance."""
    assert inst is not None
    elem = inst.elements.pop(rec.token_id)
    inst.variables.pop(rec.token_id, None)
    inst.joins.pop(rec.token_id, None)
    if elem.kind == PROCESS_KIND:
        inst.status = (
            InstanceStatus.COMPLETED
            if rec.intent == _COMPLETED
            else InstanceStatus.TERMINATED
        )
        # the final variables stay readable after the end; nothing else is live
        if "variables" in v:
            inst.variables[rec.token_id] = dict(v["variables"])
        return
    scope = inst.elements[elem.scope_key]
    scope.children -= 1
    if scope.kind == MI_BODY_KIND and rec.intent == _COMPLETED:
        scope.mi_completed += 1


def sequence_flow_taken_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                           v: SequenceFlowTaken) -> None:
    """A flow into a joining gateway is counted until the join consumes it."""
    assert inst is not None
    if v.get("join"):
        inst.joins.setdefault(rec.scope_id, {}).setdefault(v["target"], []).append(
            rec.element_id
        )


def join_consumed_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                     v: JoinConsumed) -> None:
    """A joining gateway fired: the flows it consumed are no longer pending."""
    assert inst is not None
    gateways = inst.joins.get(rec.scope_id)
    if gateways is None:
        return
    pending = gateways.get(v["gateway"], [])
    for flow in v["flows"]:
        pending.remove(flow)
    if not pending:
        gateways.pop(v["gateway"], None)
    if not gateways:
        inst.joins.pop(rec.scope_id, None)


def complex_gateway_fired_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                             v: ComplexGatewayPhase) -> None:
    """A complex gateway fired: its scope remembers which incoming flows the first phase
    consumed until the gateway resets."""
    assert inst is not None
    scope = inst.elements[rec.scope_id]
    fired = dict(scope.complex_fired or {})
    fired[v["gateway"]] = list(v["flows"])
    scope.complex_fired = fired


def complex_gateway_reset_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                             v: ComplexGatewayPhase) -> None:
    """A complex gateway reset: it waits for a new first phase."""
    assert inst is not None
    scope = inst.elements[rec.scope_id]
    fired = dict(scope.complex_fired or {})
    fired.pop(v["gateway"], None)
    scope.complex_fired = fired or None


def ad_hoc_decided_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                      v: AdHocDecided) -> None:
    """An ad-hoc subprocess counts the choice and the activities it starts."""
    assert inst is not None
    elem = inst.elements[rec.token_id]
    elem.adhoc_decisions += 1
    runs = dict(elem.adhoc_runs or {})
    for activity in v["activities"]:
        runs[activity] = runs.get(activity, 0) + 1
    elem.adhoc_runs = runs or None
    if v["done"]:
        elem.adhoc_done = True


def variables_updated_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: VariablesUpdated) -> None:
    """Variables of the token's scope take new values."""
    assert inst is not None
    inst.variables.setdefault(rec.token_id, {}).update(v["variables"])


# --- jobs ------------------------------------------------------------------------------------

def job_created_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                   v: JobCreated) -> None:
    """The element waits on a job (an escalation's notification is no wait)."""
    assert inst is not None
    # an escalation's notification is fire-and-forget: no element waits on it, so it is not
    # live work of the instance (its key still moves the instance's counter on)
    if v.get("notification"):
        return
    inst.jobs[v["key"]] = Job(v["key"], rec.token_id, v["type"], v["retries"])


def job_gone_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                v: KeyOnly) -> None:
    """A job completed, was cancelled or threw an error: nothing waits on it any more."""
    assert inst is not None
    inst.jobs.pop(v["key"], None)


def job_failed_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                  v: JobFailed) -> None:
    """A job failed: it keeps the retries left, and is FAILED at none."""
    assert inst is not None
    job = inst.jobs[v["key"]]
    job.retries = v["retries"]
    job.state = "ACTIVATABLE" if job.retries > 0 else "FAILED"


# --- user tasks ------------------------------------------------------------------------------

def user_task_created_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: UserTaskCreated) -> None:
    """The element waits on a task, with what the engine checks before a person acts."""
    assert inst is not None
    inst.user_tasks[v["key"]] = UserTask(
        v["key"], rec.token_id, rec.element_id, persona=v.get("persona"),
        assignee=v.get("assignee"), candidate_users=list(v.get("candidateUsers", ())),
        candidate_groups=list(v.get("candidateGroups", ())), due=v.get("dueDate"),
        escalation_connector=v.get("escalationConnector"),
    )


def user_task_claimed_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: UserTaskClaim) -> None:
    """A person claimed the task."""
    assert inst is not None
    inst.user_tasks[v["key"]].claimant = v["claimant"]


def user_task_unclaimed_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                           v: UserTaskClaim) -> None:
    """The claimant gave the task back."""
    assert inst is not None
    inst.user_tasks[v["key"]].claimant = None


def user_task_escalated_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                           v: KeyOnly) -> None:
    """The task is escalated (once)."""
    assert inst is not None
    inst.user_tasks[v["key"]].escalated = True


def user_task_gone_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                      v: KeyOnly) -> None:
    """A task was completed or cancelled."""
    assert inst is not None
    inst.user_tasks.pop(v["key"], None)


# --- timers ----------------------------------------------------------------------------------

def timer_created_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                     v: TimerCreated) -> None:
    """The element waits on a timer."""
    assert inst is not None
    inst.timers[v["key"]] = Timer(
        v["key"], rec.token_id, v["elementId"], v["due"], v.get("repetitions"),
        v.get("fired", 0), v.get("expression", ""), v.get("timerKind", ""),
    )


def timer_gone_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                  v: KeyOnly) -> None:
    """A timer fired or was cancelled."""
    assert inst is not None
    inst.timers.pop(v["key"], None)


# --- messages and signals --------------------------------------------------------------------

def message_subscription_created_v1(state: EngineState, inst: InstanceState | None,
                                    rec: Record, v: MessageSubscriptionCreated) -> None:
    """The element waits on a message (the message side learns of it by a command)."""
    assert inst is not None
    inst.message_subs[v["key"]] = Subscription(
        v["key"], rec.token_id, v["elementId"], v["name"], v["correlationKey"]
    )


def message_subscription_correlated_v1(state: EngineState, inst: InstanceState | None,
                                       rec: Record, v: MessageSubscriptionCorrelated) -> None:
    """A message arrived; the subscription ends unless it stays open."""
    assert inst is not None
    if v.get("close"):
        inst.message_subs.pop(v["key"], None)


def message_subscription_deleted_v1(state: EngineState, inst: InstanceState | None,
                                    rec: Record, v: KeyOnly) -> None:
    """The element stopped waiting on a message."""
    assert inst is not None
    inst.message_subs.pop(v["key"], None)


def signal_subscription_created_v1(state: EngineState, inst: InstanceState | None,
                                   rec: Record, v: SignalSubscriptionCreated) -> None:
    """The element waits on a signal; the engine's signal index learns of it."""
    assert inst is not None
    inst.signal_subs[v["key"]] = Subscription(v["key"], rec.token_id, v["elementId"], v["name"])
    state.signal_subs.setdefault(v["name"], {})[f"{rec.instance_id}/{v['key']}"] = (
        rec.instance_id, v["key"])


def signal_subscription_deleted_v1(state: EngineState, inst: InstanceState | None,
                                   rec: Record, v: KeyOnly) -> None:
    """The element stopped waiting on a signal."""
    assert inst is not None
    sub = inst.signal_subs.pop(v["key"], None)
    if sub is not None:
        subs = state.signal_subs.get(sub.name, {})
        subs.pop(f"{rec.instance_id}/{sub.key}", None)
        if not subs:
            state.signal_subs.pop(sub.name, None)


def process_subscription_opened_v1(state: EngineState, inst: InstanceState | None,
                                   rec: Record, v: Mapping[str, Any]) -> None:
    """The message side: an instance waits on (name, correlation key)."""
    state.message_subs.setdefault((v["name"], v["correlationKey"]), {})[
        f"{v['instanceId']}/{v['subKey']}"
    ] = ProcessSubscription(v["instanceId"], v["subKey"], v["processId"])


def process_subscription_closed_v1(state: EngineState, inst: InstanceState | None,
                                   rec: Record, v: Mapping[str, Any]) -> None:
    """The message side: the instance no longer waits."""
    _drop_process_sub(state, v["name"], v["correlationKey"], f"{v['instanceId']}/{v['subKey']}")


def _drop_process_sub(state: EngineState, name: str, key: str, sub: str) -> None:
    subs = state.message_subs.get((name, key))
    if subs is None:
        return
    subs.pop(sub, None)
    if not subs:
        state.message_subs.pop((name, key), None)


def message_published_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: Mapping[str, Any]) -> None:
    """A message with a time to live is buffered for subscriptions opened later."""
    if v.get("expires", 0) > rec.timestamp:
        state.messages[v["messageId"]] = BufferedMessage(
            v["name"], v["correlationKey"], dict(v.get("variables", {})), v["messageId"],
            v["expires"],
        )


def message_correlated_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                          v: Mapping[str, Any]) -> None:
    """The message went to a process (once per process); its subscription is used up."""
    msg = state.messages.get(v["messageId"])
    if msg is not None:
        msg.correlated.append(v["processId"])
    if "subKey" in v:
        _drop_process_sub(state, v["name"], v["correlationKey"], f"{v['instanceId']}/{v['subKey']}")


def message_correlation_retracted_v1(state: EngineState, inst: InstanceState | None,
                                     rec: Record, v: Mapping[str, Any]) -> None:
    """The instance could not take the message: the process may have it again."""
    msg = state.messages.get(v["messageId"])
    if msg is not None and v["processId"] in msg.correlated:
        msg.correlated.remove(v["processId"])


def message_expired_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                       v: Mapping[str, Any]) -> None:
    """A buffered message's time to live ran out."""
    state.messages.pop(v["messageId"], None)


# --- incidents -------------------------------------------------------------------------------

def incident_created_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                        v: IncidentCreated) -> None:
    """The element waits for an operator."""
    assert inst is not None
    inst.incidents[v["key"]] = Incident(
        v["key"], rec.token_id, v["errorType"], v["message"], v.get("jobKey", 0),
        v.get("stage", "activate"),
    )


def incident_resolved_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: KeyOnly) -> None:
    """The incident is resolved (or its element ended)."""
    assert inst is not None
    inst.incidents.pop(v["key"], None)


def instance_migrated_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                         v: Mapping[str, Any]) -> None:
    """The instance runs another version of its process: element instances (with their user
    tasks) and waits whose element ids differ there take the new ids."""
    assert inst is not None
    inst.version = int(v["targetVersion"])
    for key, new_id in v.get("elementIds", {}).items():
        inst.elements[int(key)].element_id = new_id
        for task in inst.user_tasks.values():
            if task.element_key == int(key):
                task.element_id = new_id
    for key, new_id in v.get("waitIds", {}).items():
        wait = (inst.timers.get(int(key)) or inst.message_subs.get(int(key))
                or inst.signal_subs.get(int(key)))
        if wait is not None:
            wait.element_id = new_id
# --- compensation ----------------------------------------------------------------------------

def compensation_subscription_created_v1(state: EngineState, inst: InstanceState | None,
                                         rec: Record, v: CompensationSubscriptionCreated) -> None:
    """A completed activity becomes compensable in its scope, taking along what completed
    inside it (a subprocess's activities, a multi-instance body's iterations)."""
    assert inst is not None
    inner = inst.compensations.pop(rec.token_id, [])
    inst.compensations.setdefault(rec.scope_id, []).append(CompensationSub(
        v["elementKey"], rec.element_id, v["kind"], dict(v["variables"]), inner))


def compensation_subscriptions_deleted_v1(state: EngineState, inst: InstanceState | None,
                                          rec: Record, v: CompensationSubscriptionsDeleted
                                          ) -> None:
    """A scope's compensable activities end with it."""
    assert inst is not None
    inst.compensations.pop(v["scopeKey"], None)


def compensation_started_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                            v: CompensationStarted) -> None:
    """The compensated activities are compensable no more (once is all, BPMN 13.5.7); their
    handlers wait their turn, each with the variables of the activity it compensates and of
    the completed scopes around it (the innermost wins)."""
    assert inst is not None
    subs = inst.compensations.get(v["scopeKey"], [])
    # each level's activities by key, made once: a body's thousands of iterations are found
    # without a scan per step
    index: dict[int, dict[int, CompensationSub]] = {}
    pending = [_compensation_step(subs, step, index) for step in v["handlers"]]
    taken = set(v["compensated"])
    left = [c for c in subs if c.key not in taken]
    if left:
        inst.compensations[v["scopeKey"]] = left
    else:
        inst.compensations.pop(v["scopeKey"], None)
    inst.compensation_runs[rec.token_id] = CompensationRun(
        rec.token_id, rec.scope_id, pending, wait=v["wait"], thrower_id=rec.element_id,
        thrower_kind=rec.element_type)


def _compensation_step(subs: list[CompensationSub], step: Mapping[str, Any],
                       index: dict[int, dict[int, CompensationSub]]) -> CompensationSub:
    """The compensable activity at `step["path"]` (keys from `subs` down through what completed
    inside), as a handler's turn."""
    level = subs
    seen: dict[str, Any] = {}
    found: CompensationSub | None = None
    for key in step["path"]:
        by_key = index.get(id(level))
        if by_key is None:
            by_key = index[id(level)] = {c.key: c for c in level}
        found = by_key[key]
        seen.update(found.variables)
        level = found.inner
    assert found is not None
    return CompensationSub(found.key, found.element_id, found.kind, seen,
                           found.inner if step.get("scoped") else [], step["handler"])


def compensation_handler_activated_v1(state: EngineState, inst: InstanceState | None,
                                      rec: Record, v: CompensationHandlerActivated) -> None:
    """The next handler starts; a compensation event subprocess gets what completed inside the
    subprocess it compensates, as its own scope's compensable activities."""
    assert inst is not None
    run = inst.compensation_runs[v["throwerKey"]]
    inst.compensations.pop(run.handler_key, None)
    step = run.pending.pop(0)
    run.handler_key = rec.token_id
    if step.inner:
        inst.compensations[rec.token_id] = step.inner


def compensation_completed_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                              v: CompensationCompleted) -> None:
    """The compensation is over (or aborted)."""
    assert inst is not None
    run = inst.compensation_runs.pop(v["throwerKey"], None)
    if run is not None:
        inst.compensations.pop(run.handler_key, None)


def informational_v1(state: EngineState, inst: InstanceState | None, rec: Record,
                     v: Mapping[str, Any]) -> None:
    """Recorded for the audit log; the state does not change."""


APPLIERS: Mapping[tuple[str, int], Applier] = {
    (Event.ELEMENT_ACTIVATED.value, 1): element_activated_v1,
    (Event.ELEMENT_ACTIVATED.value, 2): element_activated_v2,
    (Event.ELEMENT_COMPLETED.value, 1): element_left_v1,
    (Event.ELEMENT_TERMINATED.value, 1): element_left_v1,
    (Event.SEQUENCE_FLOW_TAKEN.value, 1): sequence_flow_taken_v1,
    (Event.JOIN_CONSUMED.value, 1): join_consumed_v1,
    (Event.VARIABLES_UPDATED.value, 1): variables_updated_v1,
    (Event.COMPLEX_GATEWAY_FIRED.value, 1): complex_gateway_fired_v1,
    (Event.COMPLEX_GATEWAY_RESET.value, 1): complex_gateway_reset_v1,
    (Event.AD_HOC_DECIDED.value, 1): ad_hoc_decided_v1,
    (Event.JOB_CREATED.value, 1): job_created_v1,
    (Event.JOB_COMPLETED.value, 1): job_gone_v1,
    (Event.JOB_CANCELED.value, 1): job_gone_v1,
    (Event.JOB_ERROR_THROWN.value, 1): job_gone_v1,
    (Event.JOB_FAILED.value, 1): job_failed_v1,
    (Event.USER_TASK_CREATED.value, 1): user_task_created_v1,
    (Event.USER_TASK_CLAIMED.value, 1): user_task_claimed_v1,
    (Event.USER_TASK_UNCLAIMED.value, 1): user_task_unclaimed_v1,
    (Event.USER_TASK_ESCALATED.value, 1): user_task_escalated_v1,
    (Event.USER_TASK_COMPLETED.value, 1): user_task_gone_v1,
    (Event.USER_TASK_CANCELED.value, 1): user_task_gone_v1,
    (Event.TIMER_CREATED.value, 1): timer_created_v1,
    (Event.TIMER_TRIGGERED.value, 1): timer_gone_v1,
    (Event.TIMER_CANCELED.value, 1): timer_gone_v1,
    (Event.MESSAGE_SUBSCRIPTION_CREATED.value, 1): message_subscription_created_v1,
    (Event.MESSAGE_SUBSCRIPTION_CORRELATED.value, 1): message_subscription_correlated_v1,
    (Event.MESSAGE_SUBSCRIPTION_DELETED.value, 1): message_subscription_deleted_v1,
    (Event.SIGNAL_SUBSCRIPTION_CREATED.value, 1): signal_subscription_created_v1,
    (Event.SIGNAL_SUBSCRIPTION_DELETED.value, 1): signal_subscription_deleted_v1,
    (Event.PROCESS_MESSAGE_SUBSCRIPTION_OPENED.value, 1): process_subscription_opened_v1,
    (Event.PROCESS_MESSAGE_SUBSCRIPTION_CLOSED.value, 1): process_subscription_closed_v1,
    (Event.MESSAGE_PUBLISHED.value, 1): message_published_v1,
    (Event.MESSAGE_CORRELATED.value, 1): message_correlated_v1,
    (Event.MESSAGE_CORRELATION_RETRACTED.value, 1): message_correlation_retracted_v1,
    (Event.MESSAGE_EXPIRED.value, 1): message_expired_v1,
    (Event.INCIDENT_CREATED.value, 1): incident_created_v1,
    (Event.INCIDENT_RESOLVED.value, 1): incident_resolved_v1,
    (Event.GATEWAY_DECIDED.value, 1): informational_v1,
    (Event.SIGNAL_BROADCAST.value, 1): informational_v1,
    (Event.ERROR_THROWN.value, 1): informational_v1,
    (Event.ESCALATION_THROWN.value, 1): informational_v1,
    (Event.INSTANCE_MODIFIED.value, 1): informational_v1,
    (Event.INSTANCE_MIGRATED.value, 1): instance_migrated_v1,
    (Event.COMPENSATION_SUBSCRIPTION_CREATED.value, 1): compensation_subscription_created_v1,
    (Event.COMPENSATION_SUBSCRIPTIONS_DELETED.value, 1): compensation_subscriptions_deleted_v1,
    (Event.COMPENSATION_STARTED.value, 1): compensation_started_v1,
    (Event.COMPENSATION_HANDLER_ACTIVATED.value, 1): compensation_handler_activated_v1,
    (Event.COMPENSATION_COMPLETED.value, 1): compensation_completed_v1,
}
"""Every applier, by (event intent, version). Never change an entry's meaning: add a version
(docs/engine.md)."""


def _latest(table: Mapping[tuple[str, int], Applier]) -> dict[str, int]:
    out: dict[str, int] = {}
    for intent, version in table:
        out[intent] = max(out.get(intent, 0), version)
    return out


LATEST_VERSION: Mapping[str, int] = _latest(APPLIERS)
"""The version each intent is written with now: the newest applier it has."""

STAMPED: frozenset[str] = frozenset(i for i, n in LATEST_VERSION.items() if n > 1)
"""The intents whose events carry `recordVersion` (those written at version 1 carry none, so
their bytes are those they had before versions existed)."""

_FIRST: dict[str, Applier] = {i: fn for (i, n), fn in APPLIERS.items() if n == 1}
