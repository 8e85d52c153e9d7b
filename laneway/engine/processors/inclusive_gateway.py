"""Inclusive gateways: every flow whose condition holds (else the default); the join (in
flow.try_inclusive_join) waits only for tokens that can still arrive."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate_condition
from laneway.engine.processors import decision
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import FlowNode
from laneway.records import IncidentType


@processor("inclusiveGateway")
class InclusiveGatewayProcessor:
    """Chooses one or more outgoing flows (or asks a decision handler to)."""

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
