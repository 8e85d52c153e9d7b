"""Start events: the token passes, carrying the variables of the event that started it."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("startEvent")
class StartEventProcessor:
    """None, message, timer and signal starts alike: what started them is already done."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.complete(ctx, elem, trigger)
