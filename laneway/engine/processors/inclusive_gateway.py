"""Inclusive gateways: every flow whose condition holds (else the default); the join waits
only for tokens that can still arrive.

Split: activated, a merge or a single unconditional flow passes the token on; a gateway
marked for a decision handler, or whose conditions the engine cannot evaluate, asks one
(`decision.py`); otherwise every outgoing flow whose condition holds is taken, else the
default. No flow to take, or a condition that fails to evaluate, is an incident
`CONDITION_ERROR`.

Join (more than one incoming flow): each arriving token waits at the gateway (`on_join`). The
gateway activates, consuming the waiting tokens, once one waits on every incoming flow, or
once nothing moves in the command any more (`on_quiet`) and no other token in the scope can
still reach it (reachability through flows and boundary events, computed once per version).

Deploy: its flows' conditions may be ones the engine cannot evaluate (a handler decides them).
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate_condition
from laneway.engine.processors import decision
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import FlowNode, NodeKind
from laneway.records import Event, IncidentType


class InclusiveGatewayProcessor(ElementProcessor):
    """Chooses one or more outgoing flows (or asks a decision handler to); joins the tokens
    that can still arrive."""

    decides_conditions = True

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if decision.settled_without_conditions(ctx, elem, node):
            return
        seen = vars_.visible(ctx.inst, elem.key)
        chosen: list[str] = []
        for fid in node.outgoing:
            if fid == node.default_flow:
                continue
            condition = ctx.proc.flow(fid).condition
            try:
                if condition is None or evaluate_condition(condition, seen):
                    chosen.append(fid)
            except ExpressionError as exc:
                work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR,
                                    f"Expected to evaluate the condition of '{fid}', but {exc}")
                return
        if not chosen and node.default_flow:
            chosen.append(node.default_flow)
        if not chosen:
            work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR,
                                f"Expected at least one condition of gateway '{node.id}' to be "
                                "true, or a default flow, but no condition held and there is no "
                                "default")
            return
        flow.complete(ctx, elem, flows=chosen)

    def on_join(self, ctx: Processing, scope_key: int, node: FlowNode) -> None:
        ctx.inclusive_joins.add((scope_key, node.id))
        ctx.later(lambda: _ignore(try_join(ctx, scope_key, node)))


def _ignore(_: object) -> None:
    return None


def try_join(ctx: Processing, scope_key: int, gateway: FlowNode) -> bool:
    """Activate the join when no other token in the scope can still reach it.

    Returns whether it fired.
    """
    inst = ctx.inst
    pending = inst.joins.get(scope_key, {}).get(gateway.id)
    if not pending:
        return False
    if not all(f in pending for f in gateway.incoming):
        if ctx.in_flight.get(scope_key, 0) > 0:
            return False  # a token on its way may be headed here: on_quiet looks again
        proc = ctx.proc
        for elem in inst.elements.values():
            if elem.scope_key == scope_key and proc.reaches(elem.element_id, gateway.id):
                return False
        for other, flows in inst.joins.get(scope_key, {}).items():
            if other != gateway.id and flows and proc.reaches(other, gateway.id):
                return False
    consumed = list(dict.fromkeys(pending))
    ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": consumed},
              element_id=gateway.id, element_type=gateway.kind.value, scope_id=scope_key)
    flow.activate(ctx, scope_key, gateway)
    return True


def on_quiet(ctx: Processing) -> bool:
    """Once no step is queued, fire inclusive joins that nothing else can reach now; True when
    one fired (the engine then runs the steps it queued and asks again).

    Every join waiting in the instance is looked at, not only those a token reached in this
    command: the token a join waited for may have ended elsewhere or been terminated.
    """
    if not ctx.inclusive_joins and not ctx.proc.has_inclusive:
        return False  # no inclusive gateway anywhere: nothing to look at
    fired = False
    for scope_key, gid in _waiting_joins(ctx):
        if ctx.inst.joins.get(scope_key, {}).get(gid):
            if try_join(ctx, scope_key, ctx.proc.node(gid)):
                fired = True
        else:
            ctx.inclusive_joins.discard((scope_key, gid))
    if fired:
        return True
    # a scope whose last token waited at an inclusive join may end now
    for scope_key, _ in sorted(ctx.inclusive_joins):
        flow.check_scope(ctx, scope_key)
    return False


def _waiting_joins(ctx: Processing) -> list[tuple[int, str]]:
    proc = ctx.proc
    waiting = {
        (scope_key, gid)
        for scope_key, gateways in ctx.inst.joins.items()
        for gid, flows in gateways.items()
        if flows and proc.node(gid).kind == NodeKind.INCLUSIVE_GATEWAY
    }
    return sorted(waiting | ctx.inclusive_joins)
