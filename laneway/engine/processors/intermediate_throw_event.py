"""Intermediate throw events: none, signal, escalation, link and message."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, throw, waits, work
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode
from laneway.records import Event


@processor("intermediateThrowEvent")
class IntermediateThrowEventProcessor:
    """Throws its event and, unless something interrupted it, moves on."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        kind = node.event_kind
        if kind == EventKind.LINK:
            jump_to_link(ctx, elem, node)
            return
        if kind == EventKind.SIGNAL:
            throw.broadcast_signal(ctx, elem, node)
            if elem.key not in ctx.inst.elements:
                return
        elif kind == EventKind.ESCALATION:
            ed = node.event_definition
            code = ctx.proc.escalation_code(ed.ref if ed else None) or ""
            throw.throw(ctx, elem, EventKind.ESCALATION, code)
            if elem.key not in ctx.inst.elements:
                return
        elif kind == EventKind.MESSAGE:
            if node.job_type:
                work.create_job(ctx, elem, node, node.job_type)
                return
            if not throw.publish_message(ctx, elem, node):
                return
        flow.complete(ctx, elem)


def jump_to_link(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """A link throw ends here and the token reappears at the catch event of the same name."""
    ed = node.event_definition
    name = (ed.link_name if ed else None) or node.name or ""
    target = ctx.proc.link_targets[(node.parent or "", name)]
    scope_key = elem.scope_key
    waits.close_all(ctx, elem)
    ctx.write_element(Event.ELEMENT_COMPLETED, elem, {"key": elem.key})
    flow.activate(ctx, scope_key, target)
