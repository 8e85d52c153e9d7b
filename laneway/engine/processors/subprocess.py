"""Embedded subprocesses (a variable scope of their own) and event subprocesses."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode
from laneway.records import Event


@processor("subProcess")
class SubProcessProcessor:
    """Starts its entry nodes; completes when no token is left inside (flow.check_scope)."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.start_scope(ctx, elem, node.id)


def activate_event_subprocess(
    ctx: Processing, scope: ElementInstance, esp: FlowNode, start: FlowNode,
    payload: dict[str, Any],
) -> None:
    """Start an event subprocess in `scope` at its start event, with the event's variables."""
    key = ctx.new_key()
    ctx.write(Event.ELEMENT_ACTIVATED, {"key": key}, element_id=esp.id,
              element_type=esp.kind.value, token_id=key, scope_id=scope.key)
    elem = ctx.inst.elements[key]
    flow.start_scope(ctx, elem, esp.id, trigger=payload, start=start)
