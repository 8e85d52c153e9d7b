"""Abstract (plain) tasks and manual tasks: nothing for the engine to do."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("task", "manualTask")
class TaskProcessor:
    """Passes the token on."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.complete(ctx, elem)
