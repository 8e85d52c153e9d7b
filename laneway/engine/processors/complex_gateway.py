"""Complex gateways (BPMN 2.0.2 10.6.5, 13.3.5): a split like an inclusive gateway, a join
that fires once its activation condition holds and then waits for the rest.

Split: as an inclusive gateway (`inclusive_gateway.py`): every outgoing flow whose condition
holds, else the default; conditions the engine cannot evaluate go to a decision handler.

Join (more than one incoming flow), with an `activationCondition`:
- first phase ("waiting for start"): each arriving token waits at the gateway; the condition
  is evaluated with the variables the scope sees and `activationCount`, the number of tokens
  waiting. When it holds, one token of each incoming flow that has one is consumed
  (JOIN_CONSUMED), the gateway activates and sends tokens on (its split), and, unless every
  incoming flow had a token, it remembers the flows it consumed (COMPLEX_GATEWAY_FIRED).
- second phase ("waiting for reset"): it waits for a token on each other incoming flow, as
  far as one can still arrive (the reachability an inclusive join uses). Once they are there,
  or once nothing else in the scope can bring one, the tokens are consumed WITHOUT firing
  again (JOIN_CONSUMED, COMPLEX_GATEWAY_RESET) and a new round starts with any token left.
  BPMN lets the outgoing conditions read `waitingForStart` to send tokens in the reset too;
  this engine sends none then (the workflow patterns' discriminator, Betsy's diagrams).

Without an activation condition the join is an inclusive join. The condition is evaluated
when a token arrives, not when a variable changes; a condition that fails to evaluate counts
as false (it was checked to compile at deploy). A condition that never holds leaves the tokens
waiting, as a parallel join whose other tokens never come.

Deploy: the activation condition must be one the engine can evaluate.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.behaviours import flow
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import compiles, evaluate_condition
from laneway.engine.processors import inclusive_gateway
from laneway.engine.processors.inclusive_gateway import InclusiveGatewayProcessor
from laneway.expr import ExpressionError
from laneway.model import FlowNode, Process
from laneway.records import Event


class ComplexGatewayProcessor(InclusiveGatewayProcessor):
    """Splits as an inclusive gateway; joins in two phases around its activation
    condition."""

    def on_join(self, ctx: Processing, scope_key: int, node: FlowNode) -> None:
        if node.activation_condition is None:
            super().on_join(ctx, scope_key, node)
            return
        ctx.later(lambda: _ignore(try_fire(ctx, scope_key, node)))

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        cond = node.activation_condition
        if cond is not None and not compiles(cond):
            yield f"activation condition '{cond.raw}' cannot be evaluated by the engine"


def _ignore(_: object) -> None:
    return None


def try_fire(ctx: Processing, scope_key: int, gateway: FlowNode) -> bool:
    """Fire (first phase) or reset (second phase) the gateway if the tokens waiting allow it;
    whether it did."""
    inst = ctx.inst
    scope = inst.elements.get(scope_key)
    pending = inst.joins.get(scope_key, {}).get(gateway.id)
    if scope is None or not pending:
        return False
    fired = (scope.complex_fired or {}).get(gateway.id)
    if fired is not None:
        awaited = [f for f in gateway.incoming if f not in fired]
        if all(f in pending for f in awaited):
            _reset(ctx, scope_key, gateway, awaited)
            return True
        return False
    assert gateway.activation_condition is not None
    seen = vars_.visible(inst, scope_key).new_child({"activationCount": len(pending)})
    try:
        holds = evaluate_condition(gateway.activation_condition, seen)
    except ExpressionError:
        holds = False
    if not holds:
        return False
    consumed = list(dict.fromkeys(pending))
    kind = gateway.kind.value
    ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": consumed},
              element_id=gateway.id, element_type=kind, scope_id=scope_key)
    if any(f not in consumed for f in gateway.incoming):
        ctx.write(Event.COMPLEX_GATEWAY_FIRED, {"gateway": gateway.id, "flows": consumed},
                  element_id=gateway.id, element_type=kind, scope_id=scope_key)
    flow.activate(ctx, scope_key, gateway)
    return True


def _reset(ctx: Processing, scope_key: int, gateway: FlowNode, flows: list[str]) -> None:
    """The second phase ends: the awaited tokens that came are consumed without firing."""
    pending = ctx.inst.joins.get(scope_key, {}).get(gateway.id, [])
    consumed = [f for f in flows if f in pending]
    kind = gateway.kind.value
    if consumed:
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": consumed},
                  element_id=gateway.id, element_type=kind, scope_id=scope_key)
    ctx.write(Event.COMPLEX_GATEWAY_RESET, {"gateway": gateway.id, "flows": consumed},
              element_id=gateway.id, element_type=kind, scope_id=scope_key)
    # tokens left (a next round's) may fire it again; the scope may have ended its work
    ctx.later(lambda: _ignore(try_fire(ctx, scope_key, gateway)))
    ctx.later(lambda: flow.check_scope(ctx, scope_key))


def _can_still_arrive(ctx: Processing, scope_key: int, gateway: FlowNode,
                      awaited: list[str]) -> bool:
    """Whether a token in the scope can still come to one of the `awaited` flows: it is at a
    flow's source, can reach one, or waits at another join that can."""
    proc = ctx.proc
    inst = ctx.inst
    if ctx.in_flight.get(scope_key, 0) > 0:
        return True
    sources = {proc.flow(f).source for f in awaited}

    def leads(node_id: str) -> bool:
        return node_id in sources or any(proc.reaches(node_id, s) for s in sources)

    for elem in inst.elements.values():
        if elem.scope_key == scope_key and leads(elem.element_id):
            return True
    for other, flows in inst.joins.get(scope_key, {}).items():
        if other != gateway.id and flows and leads(other):
            return True
    return False


def on_quiet(ctx: Processing) -> bool:
    """Once no step is queued: reset gateways in their second phase that nothing can reach
    any more, and fire complex joins without an activation condition as inclusive joins
    (across commands). True when something moved (the engine then runs the steps queued)."""
    proc = ctx.proc
    if not proc.complex_joins:
        return False
    inst = ctx.inst
    moved = False
    for scope in [e for e in inst.elements.values() if e.complex_fired]:
        for gid, fired in sorted((scope.complex_fired or {}).items()):
            gateway = proc.node(gid)
            pending = inst.joins.get(scope.key, {}).get(gid, [])
            awaited = [f for f in gateway.incoming if f not in fired and f not in pending]
            if not _can_still_arrive(ctx, scope.key, gateway, awaited):
                _reset(ctx, scope.key, gateway,
                       [f for f in gateway.incoming if f not in fired])
                moved = True
    if moved:
        return True
    for scope_key, gateways in sorted(inst.joins.items()):
        for gid, flows in sorted(gateways.items()):
            if gid in proc.complex_joins and flows:
                gateway = proc.node(gid)
                if gateway.activation_condition is None:
                    moved = inclusive_gateway.try_join(ctx, scope_key, gateway) or moved
    return moved
