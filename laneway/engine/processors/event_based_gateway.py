"""Event-based gateways: wait on every following catch event; the first to fire wins."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import waits
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("eventBasedGateway")
class EventBasedGatewayProcessor:
    """Opens a wait per target; waits.fire completes it toward the one that fired."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        for fid in node.outgoing:
            target = ctx.proc.node(ctx.proc.flow(fid).target)
            if not waits.open_wait(ctx, elem, target):
                return
