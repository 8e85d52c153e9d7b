"""Events thrown inside an instance: errors and escalations looking for a catcher up the scope
chain, signals broadcast to everyone, messages published."""

from __future__ import annotations

from typing import Any

from laneway.agency_flows import crossing
from laneway.agency_flows import message_id as agency_message_id
from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours import waits, work
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.executable import NO_SCOPE
from laneway.engine.expressions import evaluate
from laneway.engine.state import MI_BODY_KIND, PROCESS_KIND, ElementInstance
from laneway.expr import ExpressionError
from laneway.model import EventDefinition, EventKind, FlowNode
from laneway.model._elements import SUBPROCESS_KINDS
from laneway.records import Command, Event, IncidentType

_SCOPES = frozenset(k.value for k in SUBPROCESS_KINDS) | {PROCESS_KIND}


def _catch_code(ctx: Processing, node: FlowNode, kind: EventKind) -> tuple[bool, str | None]:
    ed = node.event_definition
    if ed is None or ed.kind != kind:
        return False, None
    proc = ctx.proc
    return True, proc.error_code(ed.ref) if kind == EventKind.ERROR else proc.escalation_code(
        ed.ref)


def _pick(ctx: Processing, nodes: list[FlowNode], kind: EventKind, code: str) -> FlowNode | None:
    # an exact code wins over a catch-all at the same level, as in Zeebe
    catch_all = None
    for node in nodes:
        matches, catch = _catch_code(ctx, node, kind)
        if not matches:
            continue
        if catch == code:
            return node
        if catch is None and catch_all is None:
            catch_all = node
    return catch_all


def find_catcher(
    ctx: Processing, thrower: ElementInstance, kind: EventKind, code: str
) -> tuple[ElementInstance, FlowNode] | None:
    """The nearest catcher of an error or escalation thrown at `thrower`: a boundary event on
    it or an enclosing activity, or an event subprocess start in an enclosing scope."""
    inst = ctx.inst
    proc = ctx.proc
    current: ElementInstance | None = thrower
    # an event thrown inside an event subprocess goes past the event subprocesses of the scope
    # that holds it (else it would catch itself forever), as BPMN says
    skip_esps = False
    while current is not None:
        scope = inst.elements.get(current.scope_key)
        inner_of_body = scope is not None and scope.kind == MI_BODY_KIND
        if current.kind in _SCOPES and not skip_esps:
            scope_id = NO_SCOPE if current.kind == PROCESS_KIND else current.element_id
            starts = [proc.esp_starts[e.id] for e in proc.event_subprocesses.get(scope_id, ())
                      if e.id in proc.esp_starts]
            found = _pick(ctx, starts, kind, code)
            if found is not None:
                return current, found
        if current.kind != PROCESS_KIND and not inner_of_body:
            found = _pick(ctx, list(proc.boundaries.get(current.element_id, ())), kind, code)
            if found is not None:
                return current, found
        skip_esps = (
            current.kind != PROCESS_KIND and proc.node(current.element_id).triggered_by_event
        )
        current = scope
    return None


def throw(
    ctx: Processing,
    thrower: ElementInstance,
    kind: EventKind,
    code: str,
    message: str = "",
    variables: dict[str, Any] | None = None,
    *,
    origin: dict[str, Any] | None = None,
    stage: str = "activate",
) -> bool:
    """Throw an error or escalation from `thrower`. True when something caught it (here or,
    for a called instance, handed to the parent); False when nothing can.

    `origin` names where an error handed up from a called instance was first thrown (instance,
    element key, incident stage): if no ancestor catches it, the incident is raised there, as in
    Zeebe, so resolving it retries the step that threw.
    """
    intent = Event.ERROR_THROWN if kind == EventKind.ERROR else Event.ESCALATION_THROWN
    payload = dict(variables or {})
    found = find_catcher(ctx, thrower, kind, code)
    if found is None:
        parent = ctx.inst.parent
        ctx.write_element(intent, thrower, {"code": code, "message": message,
                                            "caught": False, "toParent": parent is not None})
        if parent is not None:
            to_parent = (Command.THROW_ERROR_TO_PARENT if kind == EventKind.ERROR
                         else Command.ESCALATE_TO_PARENT)
            ctx.follow_up(to_parent, parent.instance_id, {
                "elementKey": parent.element_key, "code": code, "message": message,
                "variables": payload,
                "origin": origin or {"instanceId": ctx.inst.instance_id,
                                     "elementKey": thrower.key, "stage": stage}})
            return True
        return False
    owner, catch = found
    ctx.write_element(intent, thrower, {"code": code, "message": message, "caught": True,
                                        "catchElementId": catch.id})
    if kind == EventKind.ERROR:
        payload.setdefault("errorCode", code)
        if message:
            payload.setdefault("errorMessage", message)
    waits.fire(ctx, owner, catch.id, Arrival(kind, payload))
    return True


def broadcast_signal(ctx: Processing, elem: ElementInstance, node: FlowNode,
                     ed: EventDefinition | None = None) -> None:
    """Send the signal of a throw event (its definition `ed`, else its first) to every
    subscriber (as a follow-up command, so that it reaches every partition)."""
    ed = ed or node.event_definition
    name = ctx.proc.signal_name(ed.ref if ed else None)
    inst = ctx.inst
    # Subscribers in the throwing instance get it now, before the instance moves on (it may
    # end in this same command); everyone else through the broadcast command.
    for sub in [s for s in inst.signal_subs.values() if s.name == name]:
        if sub.key in inst.signal_subs and sub.element_key in inst.elements:
            waits.deliver_signal(ctx, sub, {})
    ctx.follow_up(Command.BROADCAST_SIGNAL, inst.instance_id, {
        "name": name, "variables": {}, "startInstances": True,
        "skipInstance": inst.instance_id})


def publish_message(ctx: Processing, elem: ElementInstance, node: FlowNode,
                    ed: EventDefinition | None = None) -> bool:
    """Publish the message of a throw event (its definition `ed`, else its first message
    definition, else a send task's message) with the thrower's variables. False on an
    incident (the correlation key could not be evaluated)."""
    first = next((d for d in node.event_definitions if d.kind == EventKind.MESSAGE), None)
    # a second message of one multiple throw gets an id of its own
    suffix = "" if ed is None or ed is first else f"/{node.event_definitions.index(ed)}"
    ed = ed or first
    ref = ed.ref if ed else node.message_ref
    proc = ctx.proc
    name = proc.message_name(ref)
    seen = vars_.visible(ctx.inst, elem.key)
    correlation = ""
    message = proc.definitions.messages.get(ref) if ref else None
    try:
        if node.correlation_key is not None:
            correlation = str(evaluate(node.correlation_key, seen) or "")
        elif message is not None and message.correlation_key is not None:
            correlation = str(evaluate(message.correlation_key, seen) or "")
    except ExpressionError as exc:
        work.raise_incident(ctx, elem, IncidentType.EXTRACT_VALUE_ERROR,
                            f"Expected to evaluate the correlation key of '{name}', but {exc}")
        return False
    across = crossing(proc.definitions, node.id)
    if across is not None and ctx.partners is not None and across.agency not in ctx.partners:
        # no topic for that partner: the element waits with an incident rather than the
        # message going astray after the instance moved on; once the engine is configured
        # (and restarted), resolving it runs the step again and sends under the same id
        work.raise_incident(ctx, elem, IncidentType.AGENCY_NOT_CONFIGURED, (
            f"Expected a topic for agency '{across.agency}' to send the message '{name}' to "
            f"(message flow '{across.flow_id}'), but this engine has none: add "
            f"'{across.agency}:<send topic>:<receive topic>' to LANEWAY_AGENCY_PARTNERS (with "
            "LANEWAY_AGENCY_NAME), restart the engine, then resolve this incident"))
        return False
    if across is not None:
        # to another agency: only the declared variables, an id a replay derives again, and
        # the partner's name, by which the engine service writes it to the partner's topic
        ctx.follow_up(Command.PUBLISH_MESSAGE, ctx.inst.instance_id, {
            "name": name, "correlationKey": correlation,
            "variables": {k: seen[k] for k in across.variables if k in seen},
            "messageId": agency_message_id(ctx.inst.instance_id, elem.key) + suffix, "ttl": 0,
            "agency": across.agency, "elementId": node.id})
        return True
    ctx.follow_up(Command.PUBLISH_MESSAGE, ctx.inst.instance_id, {
        "name": name, "correlationKey": correlation, "variables": dict(seen),
        "messageId": f"{ctx.inst.instance_id}/{elem.key}{suffix}", "ttl": 0})
    return True
