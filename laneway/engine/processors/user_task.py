"""User tasks: a work item for a person in the task's lane."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import work
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode


@processor("userTask")
class UserTaskProcessor:
    """Creates the user task and waits for COMPLETE_USER_TASK."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        work.create_user_task(ctx, elem, node)
