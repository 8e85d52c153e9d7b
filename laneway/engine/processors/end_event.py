"""End events: none, terminate, error, escalation, message, signal, compensation and cancel.

Activated by a token, an end event throws its event and ends the token:
- none: the token ends; the scope completes when no token is left in it;
- terminate: every other element in the scope is terminated (and tokens on their way are cut
  off), so the scope completes; with Flowable's `terminateAll` everything in the process
  instance is, and the instance completes;
- error: thrown to the nearest catcher (`behaviours.throw`); if nothing catches it, up to a
  calling instance, else an incident `UNHANDLED_ERROR_EVENT` where it was thrown;
- escalation: thrown the same way; uncaught, the token just ends;
- message: published (`PUBLISH_MESSAGE`), or a job when the element names a job type;
- signal: the token ends first, then the signal reaches this instance's subscribers and is
  broadcast to every other one;
- compensation: compensates its scope (or its `activityRef`) and ends when the handlers are
  done (`behaviours.compensation`);
- cancel: cancels its transaction: the rest of it is terminated, what completed in it is
  compensated, then the transaction's cancel boundary event is taken.

Deploy: triggered by one of these; a cancel end event directly inside a transaction that has
a cancel boundary event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import compensation, flow, multiple, throw, work
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor, check_event
from laneway.engine.processors.transaction import check_activity_ref, check_cancel_end
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, Process
from laneway.records import IncidentType

_EVENTS = frozenset(
    {
        EventKind.NONE,
        EventKind.TERMINATE,
        EventKind.ERROR,
        EventKind.ESCALATION,
        EventKind.MESSAGE,
        EventKind.SIGNAL,
        EventKind.COMPENSATE,
        EventKind.CANCEL,
    }
)


class EndEventProcessor(ElementProcessor):
    """Ends its token, after throwing its event."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if len(node.event_definitions) > 1:
            multiple.throw_all(ctx, elem, node)
            return
        kind = node.event_kind
        proc = ctx.proc
        ed = node.event_definition
        if kind == EventKind.TERMINATE:
            if ed is not None and ed.terminate_all:
                _terminate_all(ctx, elem)
                return
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
        elif kind == EventKind.COMPENSATE and compensation.throw(ctx, elem, node):
            return  # it completes when the handlers are done
        elif kind == EventKind.CANCEL:
            compensation.cancel(ctx, elem)
            return
        flow.complete(ctx, elem)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        yield from check_event(node, _EVENTS)
        if node.event_kind == EventKind.CANCEL:
            yield from check_cancel_end(process, node)
        elif node.event_kind == EventKind.COMPENSATE:
            yield from check_activity_ref(process, node)


def _terminate_all(ctx: Processing, elem: ElementInstance) -> None:
    """Flowable's `terminateAll`: everything in the process instance ends, from whatever
    depth of subprocess the event is in (this event too); the instance then completes."""
    root = elem
    while root.scope_key in ctx.inst.elements:
        root = ctx.inst.elements[root.scope_key]
    flow.terminate_children(ctx, root)
    ctx.later(lambda: flow.check_scope(ctx, root.key))
