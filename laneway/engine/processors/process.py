"""The process instance itself: element 1, the outermost scope.

Over its life: `START_INSTANCE` activates it and starts its entry nodes (or the start event
named), opening the waits of its event subprocesses (`flow.start_scope`, from the handler).
When no token is left in it, it completes with its variables, and a called instance sends them
to its parent's call activity (`COMPLETE_CALL_ACTIVITY`). `CANCEL_INSTANCE` terminates it and
everything in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from laneway.engine.behaviours import compensation, flow, waits
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.records import Command, Event


class ProcessProcessor(ElementProcessor):
    """Completes when its last token is gone; hands its variables to a calling instance."""

    def on_empty(self, ctx: Processing, scope: ElementInstance) -> None:
        flow.complete(ctx, scope)

    def on_complete(
        self,
        ctx: Processing,
        elem: ElementInstance,
        result: Mapping[str, Any] | None,
        flows: Sequence[str] | None,
        trigger: dict[str, Any] | None,
    ) -> None:
        inst = ctx.inst
        final = dict(inst.variables.get(elem.key, {}))
        waits.close_all(ctx, elem)
        if inst.compensations:
            # what was never compensated cannot be any more
            compensation.ended(ctx, elem)
        ctx.write_element(Event.ELEMENT_COMPLETED, elem, {"key": elem.key, "variables": final})
        if inst.parent is not None:
            ctx.follow_up(Command.COMPLETE_CALL_ACTIVITY, inst.parent.instance_id,
                          {"elementKey": inst.parent.element_key, "variables": final})
