"""Intermediate catch events: timer, message and signal waits; link targets pass through."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode


@processor("intermediateCatchEvent")
class IntermediateCatchEventProcessor:
    """Waits on its event, or completes at once when an event-based gateway already caught
    it (trigger given) or it is a link target."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if trigger is not None or node.event_kind in (EventKind.LINK, EventKind.NONE):
            flow.complete(ctx, elem, trigger)
            return
        waits.open_wait(ctx, elem, node)
