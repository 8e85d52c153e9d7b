"""Exclusive gateways: the first flow whose condition holds, else the default flow.

Activated, a merge or a single unconditional flow passes the token on; a gateway marked
`laneway:decision="handler"`, or whose conditions the engine cannot evaluate, asks a decision
handler (`decision.py`); otherwise the first outgoing flow (in document order) whose condition
holds is taken, else the default flow. No flow to take, or a condition that fails to evaluate,
is an incident `CONDITION_ERROR`; resolving it evaluates again. It never joins: each token
passes on its own.

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
from laneway.model import FlowNode
from laneway.records import IncidentType


class ExclusiveGatewayProcessor(ElementProcessor):
    """Chooses exactly one outgoing flow (or asks a decision handler to)."""

    decides_conditions = True
    decided_flows = 1

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if decision.settled_without_conditions(ctx, elem, node):
            return
        seen = vars_.visible(ctx.inst, elem.key)
        for fid in node.outgoing:
            if fid == node.default_flow:
                continue
            condition = ctx.proc.flow(fid).condition
            try:
                taken = condition is None or evaluate_condition(condition, seen)
            except ExpressionError as exc:
                work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR,
                                    f"Expected to evaluate the condition of '{fid}', but {exc}")
                return
            if taken:
                flow.complete(ctx, elem, flows=[fid])
                return
        if node.default_flow:
            flow.complete(ctx, elem, flows=[node.default_flow])
            return
        work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR,
                            f"Expected at least one condition of gateway '{node.id}' to be true, "
                            "or a default flow, but no condition held and there is no default")
