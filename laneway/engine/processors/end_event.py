"""End events: none, terminate, error, escalation, message and signal."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, throw, work
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode
from laneway.records import IncidentType


@processor("endEvent")
class EndEventProcessor:
    """Ends its token, after throwing its event."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        kind = node.event_kind
        proc = ctx.proc
        ed = node.event_definition
        if kind == EventKind.TERMINATE:
            scope = ctx.inst.elements[elem.scope_key]
            flow.terminate_children(ctx, scope, keep=elem.key)
        elif kind == EventKind.ERROR:
            code = proc.error_code(ed.ref if ed else None) or ""
            if not throw.throw(ctx, elem, EventKind.ERROR, code):
                work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                                    f"Expected to throw an error event with the code '{code}', "
                                    "but it was not caught")
            return
        elif kind == EventKind.ESCALATION:
            code = proc.escalation_code(ed.ref if ed else None) or ""
            throw.throw(ctx, elem, EventKind.ESCALATION, code)
            if elem.key not in ctx.inst.elements:
                return
        elif kind == EventKind.SIGNAL:
            # the token ends first; the signal reaches its catchers before the scope is
            # looked at, so a catcher in the same scope still runs
            flow.complete(ctx, elem)
            throw.broadcast_signal(ctx, elem, node)
            return
        elif kind == EventKind.MESSAGE:
            if node.job_type:
                work.create_job(ctx, elem, node, node.job_type)
                return
            if not throw.publish_message(ctx, elem, node):
                return
        flow.complete(ctx, elem)
