"""Parallel gateways: the join waits for every incoming flow (in flow.try_parallel_join); the
split takes every outgoing flow."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("parallelGateway")
class ParallelGatewayProcessor:
    """Takes every outgoing flow, conditions ignored as BPMN says."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.complete(ctx, elem, flows=list(node.outgoing))
