"""Boundary events: activated only when their event fired; the token leaves at once."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("boundaryEvent")
class BoundaryEventProcessor:
    """The attached activity was already terminated (interrupting) or left running."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.complete(ctx, elem, trigger)
