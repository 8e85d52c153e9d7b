"""Event-based gateways: wait on every following catch event; the first to fire wins.

Activated, the gateway itself waits on the event of each target (a timer, message or signal
catch event, or a receive task's message), through the target's processor (`wait_on`). When
one arrives (`on_event`), the gateway completes toward that target, closing the other waits,
and the target activates with the event's variables and passes the token on at once.

Deploy: every outgoing flow leads to a catch event of those kinds or a receive task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind, Process

_TARGET_EVENTS = frozenset(
    {EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL, EventKind.CONDITIONAL})


class EventBasedGatewayProcessor(ElementProcessor):
    """Opens a wait per target; completes toward the one whose event arrives first."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        for fid in node.outgoing:
            target = ctx.proc.node(ctx.proc.flow(fid).target)
            if not ctx.processors[target.kind].wait_on(ctx, elem, target):
                return

    def on_event(
        self, ctx: Processing, owner: ElementInstance, catch: FlowNode, arrival: Arrival
    ) -> None:
        proc = ctx.proc
        gateway = proc.node(owner.element_id)
        chosen = [f for f in gateway.outgoing if proc.flow(f).target == catch.id]
        flow.complete(ctx, owner, flows=chosen[:1], trigger=arrival.payload)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        for fid in node.outgoing:
            target = process.nodes.get(process.flows[fid].target)
            if target is None:
                continue
            ok = target.kind == NodeKind.RECEIVE_TASK or (
                target.kind == NodeKind.INTERMEDIATE_CATCH_EVENT
                and target.event_kind in _TARGET_EVENTS
            )
            if not ok:
                yield (f"Expected an event-based gateway to lead to catch events or receive "
                       f"tasks, but it leads to '{target.id}'")
