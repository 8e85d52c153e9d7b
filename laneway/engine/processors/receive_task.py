"""Receive tasks: wait for a message."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("receiveTask")
class ReceiveTaskProcessor:
    """Subscribes to its message; completes with the message's variables."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if trigger is not None:
            flow.complete(ctx, elem, trigger)
            return
        waits.open_wait(ctx, elem, node)
