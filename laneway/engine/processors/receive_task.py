"""Receive tasks: wait for a message.

Activated by a token, it subscribes to its message (`messageRef`) by name and correlation key
(`wait_on`, also used when it follows an event-based gateway); when the message correlates it
completes with the message's variables. After an event-based gateway it is activated with
the message that already arrived and completes at once.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


class ReceiveTaskProcessor(ElementProcessor):
    """Subscribes to its message; completes with the message's variables."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if trigger is not None:
            flow.complete(ctx, elem, trigger)
            return
        self.wait_on(ctx, elem, node)

    def wait_on(self, ctx: Processing, owner: ElementInstance, catch: FlowNode) -> bool:
        return waits.open_message(ctx, owner, catch, catch.message_ref)
