"""Appliers: (state, event) -> new state. The only code that changes engine state.

The live engine applies each event the moment it writes it; recovery and the audit service's
replay apply stored events with the same functions, so both rebuild the same state.
"""

from __future__ import annotations

from collections.abc import Callable

from laneway.engine.state import (
    MI_BODY_KIND,
    PROCESS_KIND,
    BufferedMessage,
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

Applier = Callable[[EngineState, InstanceState | None, Record], None]
_APPLIERS: dict[str, Applier] = {}


def applies(*intents: Event) -> Callable[[Applier], Applier]:
    """Register an applier for these event intents."""
    def register(fn: Applier) -> Applier:
        for intent in intents:
            _APPLIERS[intent.value] = fn
        return fn
    return register


def apply_event(state: EngineState, record: Record) -> None:
    """Apply one event to the state (rejections and unknown intents change nothing)."""
    fn = _APPLIERS.get(record.intent)
    # compared as a string: Enum.value goes through a descriptor, and this runs per event
    if fn is None or record.kind != RecordKind.EVENT:
        return
    fn(state, state.instances.get(record.instance_id), record)
    # looked up again: the event may have created the instance
    inst = state.instances.get(record.instance_id)
    if inst is not None:
        key = record.value.get("key")
        if isinstance(key, int) and key >= inst.next_key:
            inst.next_key = key + 1


@applies(Event.ELEMENT_ACTIVATED)
def _element_activated(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    v = rec.value
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


@applies(Event.ELEMENT_COMPLETED, Event.ELEMENT_TERMINATED)
def _element_left(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    elem = inst.elements.pop(rec.token_id)
    inst.variables.pop(rec.token_id, None)
    inst.joins.pop(rec.token_id, None)
    if elem.kind == PROCESS_KIND:
        inst.status = (
            InstanceStatus.COMPLETED
            if rec.intent == Event.ELEMENT_COMPLETED.value
            else InstanceStatus.TERMINATED
        )
        # the final variables stay readable after the end; nothing else is live
        if "variables" in rec.value:
            inst.variables[rec.token_id] = dict(rec.value["variables"])
        return
    scope = inst.elements[elem.scope_key]
    scope.children -= 1
    if scope.kind == MI_BODY_KIND and rec.intent == Event.ELEMENT_COMPLETED.value:
        scope.mi_completed += 1


@applies(Event.SEQUENCE_FLOW_TAKEN)
def _flow_taken(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    if rec.value.get("join"):
        inst.joins.setdefault(rec.scope_id, {}).setdefault(rec.value["target"], []).append(
            rec.element_id
        )


@applies(Event.JOIN_CONSUMED)
def _join_consumed(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    gateways = inst.joins.get(rec.scope_id)
    if gateways is None:
        return
    pending = gateways.get(rec.value["gateway"], [])
    for flow in rec.value["flows"]:
        pending.remove(flow)
    if not pending:
        gateways.pop(rec.value["gateway"], None)
    if not gateways:
        inst.joins.pop(rec.scope_id, None)


@applies(Event.VARIABLES_UPDATED)
def _variables(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.variables.setdefault(rec.token_id, {}).update(rec.value["variables"])


@applies(Event.JOB_CREATED)
def _job_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    # an escalation's notification is fire-and-forget: no element waits on it, so it is not
    # live work of the instance (its key still moves the instance's counter on)
    if v.get("notification"):
        return
    inst.jobs[v["key"]] = Job(v["key"], rec.token_id, v["type"], v["retries"])


@applies(Event.JOB_COMPLETED, Event.JOB_CANCELED, Event.JOB_ERROR_THROWN)
def _job_gone(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.jobs.pop(rec.value["key"], None)


@applies(Event.JOB_FAILED)
def _job_failed(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    job = inst.jobs[rec.value["key"]]
    job.retries = rec.value["retries"]
    job.state = "ACTIVATABLE" if job.retries > 0 else "FAILED"


@applies(Event.USER_TASK_CREATED)
def _task_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    inst.user_tasks[v["key"]] = UserTask(
        v["key"], rec.token_id, rec.element_id, persona=v.get("persona"),
        assignee=v.get("assignee"), candidate_users=list(v.get("candidateUsers", ())),
        candidate_groups=list(v.get("candidateGroups", ())), due=v.get("dueDate"),
        escalation_connector=v.get("escalationConnector"),
    )


@applies(Event.USER_TASK_CLAIMED)
def _task_claimed(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.user_tasks[rec.value["key"]].claimant = rec.value["claimant"]


@applies(Event.USER_TASK_UNCLAIMED)
def _task_unclaimed(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.user_tasks[rec.value["key"]].claimant = None


@applies(Event.USER_TASK_ESCALATED)
def _task_escalated(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.user_tasks[rec.value["key"]].escalated = True


@applies(Event.USER_TASK_COMPLETED, Event.USER_TASK_CANCELED)
def _task_gone(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.user_tasks.pop(rec.value["key"], None)


@applies(Event.TIMER_CREATED)
def _timer_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    inst.timers[v["key"]] = Timer(
        v["key"], rec.token_id, v["elementId"], v["due"], v.get("repetitions"),
        v.get("fired", 0), v.get("expression", ""), v.get("timerKind", ""),
    )


@applies(Event.TIMER_TRIGGERED, Event.TIMER_CANCELED)
def _timer_gone(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.timers.pop(rec.value["key"], None)


@applies(Event.MESSAGE_SUBSCRIPTION_CREATED)
def _msub_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    inst.message_subs[v["key"]] = Subscription(
        v["key"], rec.token_id, v["elementId"], v["name"], v["correlationKey"]
    )


@applies(Event.MESSAGE_SUBSCRIPTION_CORRELATED)
def _msub_correlated(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    if rec.value.get("close"):
        inst.message_subs.pop(rec.value["key"], None)


@applies(Event.MESSAGE_SUBSCRIPTION_DELETED)
def _msub_deleted(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.message_subs.pop(rec.value["key"], None)


@applies(Event.SIGNAL_SUBSCRIPTION_CREATED)
def _ssub_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    inst.signal_subs[v["key"]] = Subscription(v["key"], rec.token_id, v["elementId"], v["name"])
    state.signal_subs.setdefault(v["name"], {})[f"{rec.instance_id}/{v['key']}"] = (
        rec.instance_id, v["key"])


@applies(Event.SIGNAL_SUBSCRIPTION_DELETED)
def _ssub_deleted(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    sub = inst.signal_subs.pop(rec.value["key"], None)
    if sub is not None:
        subs = state.signal_subs.get(sub.name, {})
        subs.pop(f"{rec.instance_id}/{sub.key}", None)
        if not subs:
            state.signal_subs.pop(sub.name, None)


@applies(Event.PROCESS_MESSAGE_SUBSCRIPTION_OPENED)
def _psub_opened(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    v = rec.value
    state.message_subs.setdefault((v["name"], v["correlationKey"]), {})[
        f"{v['instanceId']}/{v['subKey']}"
    ] = ProcessSubscription(v["instanceId"], v["subKey"], v["processId"])


@applies(Event.PROCESS_MESSAGE_SUBSCRIPTION_CLOSED)
def _psub_closed(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    v = rec.value
    _drop_process_sub(state, v["name"], v["correlationKey"], f"{v['instanceId']}/{v['subKey']}")


def _drop_process_sub(state: EngineState, name: str, key: str, sub: str) -> None:
    subs = state.message_subs.get((name, key))
    if subs is None:
        return
    subs.pop(sub, None)
    if not subs:
        state.message_subs.pop((name, key), None)


@applies(Event.MESSAGE_PUBLISHED)
def _published(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    v = rec.value
    if v.get("expires", 0) > rec.timestamp:
        state.messages[v["messageId"]] = BufferedMessage(
            v["name"], v["correlationKey"], dict(v.get("variables", {})), v["messageId"],
            v["expires"],
        )


@applies(Event.MESSAGE_CORRELATED)
def _correlated(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    v = rec.value
    msg = state.messages.get(v["messageId"])
    if msg is not None:
        msg.correlated.append(v["processId"])
    if "subKey" in v:
        _drop_process_sub(state, v["name"], v["correlationKey"], f"{v['instanceId']}/{v['subKey']}")


@applies(Event.MESSAGE_CORRELATION_RETRACTED)
def _retracted(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    msg = state.messages.get(rec.value["messageId"])
    if msg is not None and rec.value["processId"] in msg.correlated:
        msg.correlated.remove(rec.value["processId"])


@applies(Event.MESSAGE_EXPIRED)
def _expired(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    state.messages.pop(rec.value["messageId"], None)


@applies(Event.INCIDENT_CREATED)
def _incident_created(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    v = rec.value
    inst.incidents[v["key"]] = Incident(
        v["key"], rec.token_id, v["errorType"], v["message"], v.get("jobKey", 0),
        v.get("stage", "activate"),
    )


@applies(Event.INCIDENT_RESOLVED)
def _incident_resolved(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    assert inst is not None
    inst.incidents.pop(rec.value["key"], None)


@applies(
    Event.GATEWAY_DECIDED,
    Event.SIGNAL_BROADCAST,
    Event.ERROR_THROWN,
    Event.ESCALATION_THROWN,
)
def _informational(state: EngineState, inst: InstanceState | None, rec: Record) -> None:
    """Recorded for the audit log; the state does not change."""
