"""How tokens move: activating and completing elements, taking flows, joining, ending scopes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours import waits, work
from laneway.engine.behaviours.registry import PROCESSORS
from laneway.engine.context import Processing
from laneway.engine.executable import NO_SCOPE
from laneway.engine.expressions import evaluate, evaluate_condition
from laneway.engine.state import MI_BODY_KIND, PROCESS_KIND, ElementInstance
from laneway.expr import ExpressionError
from laneway.model import FlowNode, NodeKind
from laneway.model._elements import SUBPROCESS_KINDS
from laneway.records import Command, Event, IncidentType

SCOPE_KINDS = frozenset(k.value for k in SUBPROCESS_KINDS) | {PROCESS_KIND}


def activate(
    ctx: Processing,
    scope_key: int,
    node: FlowNode,
    *,
    trigger: dict[str, Any] | None = None,
    loop_counter: int = 0,
) -> None:
    """A token arrives at `node` in the scope `scope_key`."""
    scope = ctx.inst.elements.get(scope_key)
    if scope is None:
        return  # the scope ended while this step waited on the agenda
    loop = node.loop
    if loop is not None and loop.multi_instance:
        from laneway.engine.processors import multi_instance

        multi_instance.activate_body(ctx, scope, node)
        return
    if (
        loop is not None
        and loop.test_before
        and loop.loop_condition is not None
        and not _loop_continues(ctx, scope_key, node, loop_counter)
    ):
        leave(ctx, scope_key, node, None, None)
        return
    key = ctx.new_key()
    value: dict[str, Any] = {"key": key}
    if loop_counter:
        value["loopCounter"] = loop_counter
    ctx.write(Event.ELEMENT_ACTIVATED, value, element_id=node.id, element_type=node.kind.value,
              token_id=key, scope_id=scope_key)
    elem = ctx.inst.elements[key]
    if loop_counter:
        vars_.set_local(ctx, elem, {"loopCounter": loop_counter})
    run_activation(ctx, elem, node, trigger)
    if key in ctx.inst.elements and node.id in ctx.proc.boundaries:
        waits.open_boundaries(ctx, elem, node)


def run_activation(
    ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
) -> None:
    """Input mappings, then the element's own behaviour (again after an incident)."""
    if node.io.inputs:
        try:
            seen = vars_.visible(ctx.inst, elem.key)
            values = {target: evaluate(src, seen) for src, target in node.io.inputs}
        except ExpressionError as exc:
            work.raise_incident(ctx, elem, IncidentType.IO_MAPPING_ERROR,
                                f"Expected to map the inputs of '{node.id}', but {exc}")
            return
        vars_.set_local(ctx, elem, values)
    PROCESSORS[node.kind.value].on_activate(ctx, elem, node, trigger)


def complete(
    ctx: Processing,
    elem: ElementInstance,
    result: Mapping[str, Any] | None = None,
    *,
    flows: Sequence[str] | None = None,
    trigger: dict[str, Any] | None = None,
) -> None:
    """The element is done: map its outputs, end its waits, and move the token on.

    `flows` names the outgoing flows to take (gateways decide them); None takes every
    outgoing flow whose condition holds.
    """
    inst = ctx.inst
    if elem.kind == PROCESS_KIND:
        complete_process(ctx, elem)
        return
    node = ctx.proc.node(elem.element_id)
    scope_key = elem.scope_key
    if elem.kind == MI_BODY_KIND:
        from laneway.engine.processors import multi_instance

        multi_instance.hand_out_collection(ctx, elem, node)
    elif not _map_outputs(ctx, elem, node, result or {}):
        return
    again = flows is None and elem.kind != MI_BODY_KIND and _loops_again(ctx, elem, node)
    chosen: Sequence[str]
    if again:
        chosen = ()
    elif flows is None:
        try:
            chosen = select_flows(ctx, elem.key, node)
        except ExpressionError as exc:
            work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR, str(exc), stage="complete")
            return
    else:
        chosen = flows
    waits.close_all(ctx, elem)
    scope = inst.elements[scope_key]
    in_body = scope.kind == MI_BODY_KIND and elem.kind != MI_BODY_KIND
    if in_body:
        from laneway.engine.processors import multi_instance

        multi_instance.collect_output(ctx, scope, elem, node)
    loop_counter = elem.loop_counter
    ctx.write_element(Event.ELEMENT_COMPLETED, elem, {"key": elem.key})
    if in_body:
        from laneway.engine.processors import multi_instance

        multi_instance.on_inner_completed(ctx, scope, node)
        return
    if again:
        counter = max(loop_counter, 1) + 1
        ctx.in_flight[scope_key] = ctx.in_flight.get(scope_key, 0) + 1
        cuts = ctx.cuts.get(scope_key, 0)

        def loop_again() -> None:
            ctx.in_flight[scope_key] -= 1
            if ctx.cuts.get(scope_key, 0) != cuts:
                check_scope(ctx, scope_key)
                return
            activate(ctx, scope_key, node, loop_counter=counter)

        ctx.later(loop_again)
        return
    for fid in chosen:
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
        values = {target: evaluate(src, seen) for src, target in node.io.outputs}
    except ExpressionError as exc:
        work.raise_incident(ctx, elem, IncidentType.IO_MAPPING_ERROR,
                            f"Expected to map the outputs of '{node.id}', but {exc}",
                            stage="complete")
        return False
    vars_.propagate(ctx, elem.scope_key, values)
    return True


def _loops_again(ctx: Processing, elem: ElementInstance, node: FlowNode) -> bool:
    loop = node.loop
    if loop is None or loop.multi_instance or loop.test_before:
        return False
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
    """Move a token along a sequence flow; the target activates on the agenda."""
    proc = ctx.proc
    target = proc.node(proc.flow(flow_id).target)
    join = target.id in proc.joining
    value: dict[str, Any] = {"target": target.id}
    if join:
        value["join"] = True
    ctx.write(Event.SEQUENCE_FLOW_TAKEN, value, element_id=flow_id, element_type="sequenceFlow",
              scope_id=scope_key)
    if not join:
        ctx.in_flight[scope_key] = ctx.in_flight.get(scope_key, 0) + 1
        cuts = ctx.cuts.get(scope_key, 0)

        def arrive() -> None:
            ctx.in_flight[scope_key] -= 1
            if ctx.cuts.get(scope_key, 0) != cuts:
                # the scope's tokens were cut off (terminate end, interrupting event) while
                # this one was on its way: it never arrives
                check_scope(ctx, scope_key)
                return
            activate(ctx, scope_key, target, trigger=trigger)

        ctx.later(arrive)
    elif target.kind == NodeKind.PARALLEL_GATEWAY:
        ctx.later(lambda: try_parallel_join(ctx, scope_key, target))
    else:
        ctx.inclusive_joins.add((scope_key, target.id))
        ctx.later(lambda: _ignore(try_inclusive_join(ctx, scope_key, target)))


def _ignore(_: object) -> None:
    return None


def try_parallel_join(ctx: Processing, scope_key: int, gateway: FlowNode) -> None:
    """Activate a parallel join once a token waits on every incoming flow."""
    pending = ctx.inst.joins.get(scope_key, {}).get(gateway.id, [])
    if all(f in pending for f in gateway.incoming):
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": list(gateway.incoming)},
                  element_id=gateway.id, element_type=gateway.kind.value, scope_id=scope_key)
        activate(ctx, scope_key, gateway)


def try_inclusive_join(ctx: Processing, scope_key: int, gateway: FlowNode) -> bool:
    """Activate an inclusive join when no other token in the scope can still reach it.

    Returns whether it fired.
    """
    inst = ctx.inst
    pending = inst.joins.get(scope_key, {}).get(gateway.id)
    if not pending:
        return False
    if not all(f in pending for f in gateway.incoming):
        if ctx.in_flight.get(scope_key, 0) > 0:
            return False  # a token on its way may be headed here: on_quiet looks again
        reach = ctx.proc.reach
        for elem in inst.elements.values():
            if elem.scope_key == scope_key and gateway.id in reach.get(elem.element_id, ()):
                return False
        for other, flows in inst.joins.get(scope_key, {}).items():
            if other != gateway.id and flows and gateway.id in reach.get(other, ()):
                return False
    consumed = list(dict.fromkeys(pending))
    ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": consumed},
              element_id=gateway.id, element_type=gateway.kind.value, scope_id=scope_key)
    activate(ctx, scope_key, gateway)
    return True


def on_quiet(ctx: Processing) -> bool:
    """Once no step is queued, fire inclusive joins that nothing else can reach now.

    Every join waiting in the instance is looked at, not only those a token reached in this
    command: the token a join waited for may have ended elsewhere or been terminated.
    """
    fired = False
    for scope_key, gid in _waiting_inclusive_joins(ctx):
        if ctx.inst.joins.get(scope_key, {}).get(gid):
            if try_inclusive_join(ctx, scope_key, ctx.proc.node(gid)):
                fired = True
        else:
            ctx.inclusive_joins.discard((scope_key, gid))
    if fired:
        return True
    # a scope whose last token waited at an inclusive join may end now
    for scope_key, _ in sorted(ctx.inclusive_joins):
        check_scope(ctx, scope_key)
    return False


def _waiting_inclusive_joins(ctx: Processing) -> list[tuple[int, str]]:
    proc = ctx.proc
    waiting = {
        (scope_key, gid)
        for scope_key, gateways in ctx.inst.joins.items()
        for gid, flows in gateways.items()
        if flows and proc.node(gid).kind == NodeKind.INCLUSIVE_GATEWAY
    }
    return sorted(waiting | ctx.inclusive_joins)


def check_scope(ctx: Processing, scope_key: int) -> None:
    """End a scope (subprocess or the process) when no token is left in it."""
    scope = ctx.inst.elements.get(scope_key)
    if (
        scope is None
        or scope.children > 0
        or ctx.inst.joins.get(scope_key)
        or ctx.in_flight.get(scope_key, 0) > 0
    ):
        return
    if scope.kind in SCOPE_KINDS:
        complete(ctx, scope)


def complete_process(ctx: Processing, root: ElementInstance) -> None:
    """The process instance ends; a called instance hands its variables to its parent."""
    inst = ctx.inst
    final = dict(inst.variables.get(root.key, {}))
    waits.close_all(ctx, root)
    ctx.write_element(Event.ELEMENT_COMPLETED, root, {"key": root.key, "variables": final})
    if inst.parent is not None:
        ctx.follow_up(Command.COMPLETE_CALL_ACTIVITY, inst.parent.instance_id,
                      {"elementKey": inst.parent.element_key, "variables": final})


def terminate(ctx: Processing, elem: ElementInstance) -> None:
    """End an element and everything inside it without completing it."""
    inst = ctx.inst
    for child in [e for e in inst.elements.values() if e.scope_key == elem.key]:
        if child.key in inst.elements:
            terminate(ctx, child)
    for gateway, flows in list(inst.joins.get(elem.key, {}).items()):
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway, "flows": list(flows)},
                  element_id=gateway, element_type="gateway", scope_id=elem.key)
    waits.close_all(ctx, elem)
    if elem.kind == NodeKind.CALL_ACTIVITY.value:
        from laneway.engine.processors.call_activity import child_instance_id

        ctx.follow_up(Command.CANCEL_INSTANCE, child_instance_id(inst.instance_id, elem.key), {})
    ctx.write_element(Event.ELEMENT_TERMINATED, elem, {"key": elem.key})


def terminate_children(ctx: Processing, scope: ElementInstance, keep: int = 0) -> None:
    """Terminate every element in a scope but `keep`, and the tokens on their way in it."""
    ctx.cuts[scope.key] = ctx.cuts.get(scope.key, 0) + 1
    for child in [e for e in ctx.inst.elements.values() if e.scope_key == scope.key]:
        if child.key != keep and child.key in ctx.inst.elements:
            terminate(ctx, child)
    for gateway, flows in list(ctx.inst.joins.get(scope.key, {}).items()):
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway, "flows": list(flows)},
                  element_id=gateway, element_type="gateway", scope_id=scope.key)


def start_scope(ctx: Processing, scope: ElementInstance, scope_id: str,
                trigger: dict[str, Any] | None = None, start: FlowNode | None = None) -> None:
    """Open the event subprocess subscriptions of a scope and start its entry nodes."""
    waits.open_event_subprocesses(ctx, scope, scope_id)
    if start is not None:
        activate(ctx, scope.key, start, trigger=trigger)
        return
    entries = ctx.proc.entry_nodes.get(scope_id if scope_id else NO_SCOPE, ())
    if not entries:
        ctx.later(lambda: check_scope(ctx, scope.key))
        return
    for node in entries:
        activate(ctx, scope.key, node, trigger=trigger)
