"""How tokens move, whatever the element: activating and completing elements, taking flows,
ending scopes, terminating. What one kind of element does differently is in its processor
(`laneway.engine.processors`), reached through `ctx.processors`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from laneway.engine.behaviours import compensation, conditions, waits, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours.mapping_scripts import map_values
from laneway.engine.context import Processing
from laneway.engine.executable import GATEWAY_KINDS, NO_SCOPE
from laneway.engine.expressions import evaluate_condition
from laneway.engine.state import MI_BODY_KIND, ElementInstance
from laneway.expr import ExpressionError
from laneway.model import FlowNode, NodeKind
from laneway.model._elements import ACTIVITY_KINDS
from laneway.records import Event, IncidentType

# the events written at every step, read once: an enum member read from its class costs a
# descriptor call in Python 3.11
_ACTIVATED = Event.ELEMENT_ACTIVATED
_COMPLETED = Event.ELEMENT_COMPLETED
_FLOW_TAKEN = Event.SEQUENCE_FLOW_TAKEN

# a kind's string, looked up instead of `NodeKind.value` (an enum descriptor call per token)
KIND_NAMES: dict[str, str] = {kind: kind.value for kind in NodeKind}


def activate(
    ctx: Processing,
    scope_key: int,
    node: FlowNode,
    *,
    trigger: dict[str, Any] | None = None,
    loop_counter: int = 0,
) -> None:
    """A token arrives at `node` in the scope `scope_key`: activate its element (unless a loop
    that tests first is over), run it, and open the waits of its boundary events."""
    scope = ctx.inst.elements.get(scope_key)
    if scope is None:
        return  # the scope ended while this step waited on the agenda
    loop = node.loop
    if loop is not None:
        if loop.multi_instance:
            # the body wraps the node, as in Zeebe: it activates the inner instances
            ctx.processors[MI_BODY_KIND].on_arrive(ctx, scope, node, trigger)
            return
        if (
            loop.test_before
            and (loop.loop_condition is not None or loop.loop_maximum is not None)
            # a while loop checks before every iteration, the first one too; the counter
            # it sees is the iterations done (`loop_counter` numbers the one to come)
            and not _loop_continues(ctx, scope_key, node, max(loop_counter, 1) - 1)
        ):
            leave(ctx, scope_key, node, None, None)
            return
    key = ctx.new_key()
    value: dict[str, Any] = {"key": key}
    if loop_counter:
        value["loopCounter"] = loop_counter
    ctx.write(_ACTIVATED, value, element_id=node.id,
              element_type=KIND_NAMES[node.kind], token_id=key, scope_id=scope_key)
    elem = ctx.inst.elements[key]
    if loop_counter:
        vars_.set_local(ctx, elem, {"loopCounter": loop_counter})
    if node.id in ctx.proc.conditions:
        _run_watched(ctx, elem, node, trigger)
    else:
        run_activation(ctx, elem, node, trigger)
    if key in ctx.inst.elements and node.id in ctx.proc.boundaries:
        waits.open_boundaries(ctx, elem, node)


def run_activation(
    ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
) -> None:
    """Input mappings, then the element's own behaviour (again after an incident)."""
    if node.io.inputs and not _map_inputs(ctx, elem, node):
        return
    # a NodeKind is a str enum that finds its string key as it is: `.value` would cost an enum
    # descriptor call at every step of every token
    ctx.processors[node.kind].on_activate(ctx, elem, node, trigger)


def _run_watched(
    ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
) -> None:
    """`run_activation` for an element that has conditional events keyed on it: its
    conditional boundary events are looked at once its inputs are mapped and before it does
    anything (as Camunda 7 does on entry), so one that holds already interrupts it before an
    inner element, job or task exists, or starts its own path first."""
    if node.io.inputs and not _map_inputs(ctx, elem, node):
        return
    if not conditions.on_entry(ctx, elem):
        return  # interrupted
    ctx.processors[node.kind].on_activate(ctx, elem, node, trigger)


def _map_inputs(ctx: Processing, elem: ElementInstance, node: FlowNode) -> bool:
    """Set the element's input mappings as its locals; False if an incident was raised."""
    try:
        seen = vars_.visible(ctx.inst, elem.key)
        values = map_values(ctx, elem, node.io.inputs, seen)
    except ExpressionError as exc:
        work.raise_incident(ctx, elem, IncidentType.IO_MAPPING_ERROR,
                            f"Expected to map the inputs of '{node.id}', but {exc}")
        return False
    vars_.set_local(ctx, elem, values)
    return True


def complete(
    ctx: Processing,
    elem: ElementInstance,
    result: Mapping[str, Any] | None = None,
    *,
    flows: Sequence[str] | None = None,
    trigger: dict[str, Any] | None = None,
) -> None:
    """The element is done: its processor maps its outputs, ends its waits and moves the token
    on (`complete_element`, unless the kind does it differently).

    `flows` names the outgoing flows to take (gateways decide them); None takes every
    outgoing flow whose condition holds.
    """
    ctx.processors[elem.kind].on_complete(ctx, elem, result, flows, trigger)


def complete_element(
    ctx: Processing,
    elem: ElementInstance,
    result: Mapping[str, Any] | None,
    flows: Sequence[str] | None,
    trigger: dict[str, Any] | None,
) -> None:
    """Completing an element in general: map its outputs, run its loop again or choose its
    flows, end its waits; the enclosing scope's processor takes it from there."""
    node = ctx.proc.node(elem.element_id)
    if not _map_outputs(ctx, elem, node, result or {}):
        return
    again = flows is None and _loops_again(ctx, elem, node)
    leave_element(ctx, elem, node, flows, trigger, again=again)


def leave_element(
    ctx: Processing,
    elem: ElementInstance,
    node: FlowNode,
    flows: Sequence[str] | None,
    trigger: dict[str, Any] | None,
    *,
    again: bool = False,
) -> None:
    """Choose the flows the token takes (unless the element loops `again`), end the element's
    waits and hand it to its scope's processor (`on_child_completed`)."""
    chosen: Sequence[str] | None
    if again:
        chosen = None
    elif flows is None:
        try:
            chosen = select_flows(ctx, elem.key, node)
        except ExpressionError as exc:
            work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR, str(exc), stage="complete")
            return
    else:
        chosen = flows
    waits.close_all(ctx, elem)
    scope = ctx.inst.elements[elem.scope_key]
    ctx.processors[scope.kind].on_child_completed(ctx, scope, elem, node, chosen, trigger)


def move_on(
    ctx: Processing,
    scope: ElementInstance,
    elem: ElementInstance,
    node: FlowNode,
    flows: Sequence[str] | None,
    trigger: dict[str, Any] | None,
) -> None:
    """The element completes in `scope` and its token takes `flows`; None runs its loop
    again."""
    scope_key = scope.key
    loop_counter = elem.loop_counter
    comp = ctx.proc.compensation
    if comp is not None:
        compensation.completing(ctx, comp, elem)
    ctx.write_element(_COMPLETED, elem, {"key": elem.key})
    if comp is not None and ctx.inst.compensation_runs:
        compensation.completed(ctx, elem.key)
    if flows is None:
        arrive_later(ctx, scope_key, node, None, max(loop_counter, 1) + 1)
        return
    if node.completion_quantity != 1:
        # BPMN completionQuantity: that many tokens on each outgoing flow
        flows = [fid for fid in flows for _ in range(node.completion_quantity)]
    for fid in flows:
        take_flow(ctx, scope_key, fid, trigger)
    ctx.later(lambda: check_scope(ctx, scope_key))


def _map_outputs(
    ctx: Processing, elem: ElementInstance, node: FlowNode, result: Mapping[str, Any]
) -> bool:
    if not node.io.outputs:
        vars_.propagate(ctx, elem.key, result)
        return True
    if result:
        vars_.set_local(ctx, elem, result)
    try:
        seen = vars_.visible(ctx.inst, elem.key)
        values = map_values(ctx, elem, node.io.outputs, seen)
    except ExpressionError as exc:
        work.raise_incident(ctx, elem, IncidentType.IO_MAPPING_ERROR,
                            f"Expected to map the outputs of '{node.id}', but {exc}",
                            stage="complete")
        return False
    vars_.propagate(ctx, elem.scope_key, values)
    return True


def _loops_again(ctx: Processing, elem: ElementInstance, node: FlowNode) -> bool:
    loop = node.loop
    if loop is None or loop.multi_instance:
        return False
    if loop.test_before:
        # go round: the check before the next iteration (`activate`) decides
        return loop.loop_condition is not None or loop.loop_maximum is not None
    return _loop_continues(ctx, elem.key, node, max(elem.loop_counter, 1))


def _loop_continues(ctx: Processing, key: int, node: FlowNode, counter: int) -> bool:
    loop = node.loop
    assert loop is not None
    if loop.loop_maximum is not None and counter >= loop.loop_maximum:
        return False
    if loop.loop_condition is None:
        return loop.loop_maximum is not None
    seen = vars_.visible(ctx.inst, key).new_child({"loopCounter": counter})
    try:
        return evaluate_condition(loop.loop_condition, seen)
    except ExpressionError:
        return False


def select_flows(ctx: Processing, key: int, node: FlowNode) -> list[str]:
    """Every outgoing flow without a condition or whose condition holds; the default flow
    only when no conditional flow holds. Raises ExpressionError."""
    proc = ctx.proc
    plain = proc.unconditional.get(node.id)
    if plain is not None:
        return list(plain)  # no condition to evaluate (most nodes)
    if not node.outgoing:
        return []
    chosen: list[str] = []
    conditional_taken = False
    seen = None
    for fid in node.outgoing:
        if fid == node.default_flow:
            continue
        flow = proc.flow(fid)
        if flow.condition is None:
            chosen.append(fid)
            continue
        if seen is None:
            seen = vars_.visible(ctx.inst, key)
        if evaluate_condition(flow.condition, seen):
            chosen.append(fid)
            conditional_taken = True
    if node.default_flow and not conditional_taken:
        chosen.append(node.default_flow)
    return chosen


def leave(
    ctx: Processing,
    scope_key: int,
    node: FlowNode,
    flows: Sequence[str] | None,
    trigger: dict[str, Any] | None,
) -> None:
    """Take flows out of `node` without an element instance (a skipped loop)."""
    chosen = list(flows) if flows is not None else list(node.outgoing)
    for fid in chosen:
        take_flow(ctx, scope_key, fid, trigger)
    ctx.later(lambda: check_scope(ctx, scope_key))


def take_flow(
    ctx: Processing, scope_key: int, flow_id: str, trigger: dict[str, Any] | None = None
) -> None:
    """Move a token along a sequence flow; the target activates on the agenda (a joining
    gateway's processor decides when)."""
    proc = ctx.proc
    target = proc.flow_targets[flow_id]
    join = target.id in proc.joining
    value: dict[str, Any] = {"target": target.id}
    if join:
        value["join"] = True
    ctx.write(_FLOW_TAKEN, value, element_id=flow_id, element_type="sequenceFlow",
              scope_id=scope_key)
    if join:
        ctx.processors[target.kind].on_join(ctx, scope_key, target)
        return
    arrive_later(ctx, scope_key, target, trigger, 0)


def arrive_later(ctx: Processing, scope_key: int, node: FlowNode,
                 trigger: dict[str, Any] | None, loop_counter: int) -> None:
    """A token on its way to `node` (a taken flow, a loop going round): it is counted in
    flight and activates when the queue reaches it."""
    ctx.in_flight[scope_key] = ctx.in_flight.get(scope_key, 0) + 1
    cuts = ctx.cuts.get(scope_key, 0)

    def arrive() -> None:
        ctx.in_flight[scope_key] -= 1
        if ctx.cuts.get(scope_key, 0) != cuts:
            # the scope's tokens were cut off (terminate end, interrupting event) while
            # this one was on its way: it never arrives
            check_scope(ctx, scope_key)
            return
        activate(ctx, scope_key, node, trigger=trigger, loop_counter=loop_counter)

    ctx.later(arrive)


def check_scope(ctx: Processing, scope_key: int) -> None:
    """Tell a scope's processor when no token is left in it (a subprocess or the process then
    completes)."""
    scope = ctx.inst.elements.get(scope_key)
    if (
        scope is None
        or scope.children > 0
        or ctx.inst.joins.get(scope_key)
        or ctx.in_flight.get(scope_key, 0) > 0
    ):
        return
    ctx.processors[scope.kind].on_empty(ctx, scope)


def terminate(ctx: Processing, elem: ElementInstance) -> None:
    """End an element and everything inside it without completing it."""
    inst = ctx.inst
    for child in [e for e in inst.elements.values() if e.scope_key == elem.key]:
        if child.key in inst.elements:
            terminate(ctx, child)
    _drop_joins(ctx, elem.key)
    waits.close_all(ctx, elem)
    if inst.compensations or inst.compensation_runs:
        compensation.terminating(ctx, elem)
    ctx.processors[elem.kind].on_terminate(ctx, elem)
    ctx.write_element(Event.ELEMENT_TERMINATED, elem, {"key": elem.key})


def terminate_children(ctx: Processing, scope: ElementInstance, keep: int = 0) -> None:
    """Terminate every element in a scope but `keep`, and the tokens on their way in it."""
    ctx.cuts[scope.key] = ctx.cuts.get(scope.key, 0) + 1
    for child in [e for e in ctx.inst.elements.values() if e.scope_key == scope.key]:
        if child.key != keep and child.key in ctx.inst.elements:
            terminate(ctx, child)
    _drop_joins(ctx, scope.key)


def _drop_joins(ctx: Processing, scope_key: int) -> None:
    # the tokens waiting at joins in the scope end with it
    for gateway, flows in list(ctx.inst.joins.get(scope_key, {}).items()):
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway, "flows": list(flows)},
                  element_id=gateway, element_type="gateway", scope_id=scope_key)


def start_scope(ctx: Processing, scope: ElementInstance, scope_id: str,
                trigger: dict[str, Any] | None = None, start: FlowNode | None = None) -> None:
    """Open the event subprocess subscriptions of a scope and start its entry nodes."""
    waits.open_event_subprocesses(ctx, scope, scope_id)
    entries = ctx.proc.entry_nodes.get(scope_id if scope_id else NO_SCOPE, ())
    if start is not None:
        activate(ctx, scope.key, start, trigger=trigger)
        # the activities and gateways without incoming flows start with any start event
        for node in entries:
            if node.kind in ACTIVITY_KINDS or node.kind in GATEWAY_KINDS:
                activate(ctx, scope.key, node)
        return
    if not entries:
        ctx.later(lambda: check_scope(ctx, scope.key))
        return
    for node in entries:
        activate(ctx, scope.key, node, trigger=trigger)
