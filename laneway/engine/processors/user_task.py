"""User tasks: a work item for a person in the task's lane.

Activated, the task writes `USER_TASK_CREATED` for the worklist: its persona (from its lanes
and the review's mapping), assignee and candidates (evaluated when written as expressions),
due date (`laneway:slaMinutes`), form and local variables (`behaviours/work.py`). Then it
waits for people: `CLAIM_USER_TASK`, `UNCLAIM_USER_TASK` and `COMPLETE_USER_TASK`, checked
against its persona, candidates and owner (`handlers/user_tasks.py`); completing it completes
the element with the submitted variables. `ESCALATE_USER_TASK` marks it overdue once. Leaving
the element any other way cancels the task (`USER_TASK_CANCELED`).

Deploy: `laneway:slaMinutes`, when given, is a positive number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import work
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.engine.user_tasks import sla_minutes
from laneway.model import FlowNode, Process


class UserTaskProcessor(ElementProcessor):
    """Creates the user task and waits for COMPLETE_USER_TASK."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        work.create_user_task(ctx, elem, node)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        try:
            sla_minutes(node.attrs)
        except ValueError as exc:
            yield str(exc)
