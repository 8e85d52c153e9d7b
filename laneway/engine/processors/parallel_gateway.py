"""Parallel gateways: the split takes every outgoing flow; the join waits for every incoming one.

Split: activated, it takes every outgoing flow, conditions ignored as BPMN says.

Join (more than one incoming flow): each arriving token waits at the gateway (`on_join`);
when a token waits on every incoming flow, they are consumed together and the gateway
activates once.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode
from laneway.records import Event


class ParallelGatewayProcessor(ElementProcessor):
    """Takes every outgoing flow; joins once a token waits on every incoming flow."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.complete(ctx, elem, flows=list(node.outgoing))

    def on_join(self, ctx: Processing, scope_key: int, node: FlowNode) -> None:
        ctx.later(lambda: _try_join(ctx, scope_key, node))


def _try_join(ctx: Processing, scope_key: int, gateway: FlowNode) -> None:
    """Activate the join once a token waits on every incoming flow."""
    pending = ctx.inst.joins.get(scope_key, {}).get(gateway.id, [])
    if all(f in pending for f in gateway.incoming):
        ctx.write(Event.JOIN_CONSUMED, {"gateway": gateway.id, "flows": list(gateway.incoming)},
                  element_id=gateway.id, element_type=gateway.kind.value, scope_id=scope_key)
        flow.activate(ctx, scope_key, gateway)
