"""Intermediate throw events: none, signal, escalation, link, message and compensation.

Activated by a token, it throws its event and, unless that interrupted it, passes the token on:
- none: passes straight on;
- signal: this instance's subscribers get it at once, every other one through a broadcast;
- escalation: thrown to the nearest catcher (`behaviours.throw`); an interrupting catcher
  terminates the thrower, otherwise (or uncaught) the token goes on;
- message: published (`PUBLISH_MESSAGE`), or a job when the element names a job type;
- link: the token ends here and reappears at the link catch event of the same name in the same
  scope;
- compensation: compensates its scope (or its `activityRef`); with `waitForCompletion` (the
  default) the token goes on once the handlers are done (`behaviours.compensation`).

Deploy: triggered by one of these; a link names a link catch event of its scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import compensation, flow, multiple, throw, waits, work
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor, check_event
from laneway.engine.processors.transaction import check_activity_ref
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind, Process
from laneway.records import Event

_EVENTS = frozenset(
    {EventKind.NONE, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.LINK, EventKind.ESCALATION,
     EventKind.COMPENSATE}
)


class IntermediateThrowEventProcessor(ElementProcessor):
    """Throws its event and, unless something interrupted it, moves on."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if len(node.event_definitions) > 1:
            multiple.throw_all(ctx, elem, node)
            return
        kind = node.event_kind
        if kind == EventKind.LINK:
            _jump_to_link(ctx, elem, node)
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
        elif kind == EventKind.COMPENSATE and compensation.throw(ctx, elem, node):
            return  # it completes when the handlers are done
        flow.complete(ctx, elem)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        yield from check_event(node, _EVENTS)
        if node.event_kind == EventKind.COMPENSATE:
            yield from check_activity_ref(process, node)
        if node.event_kind == EventKind.LINK:
            name = _link_name(node)
            if (node.parent, name) not in _link_catches(process):
                yield (f"link throw event names link '{name}', but no link catch event in the "
                       "same scope has that name")


# the process last asked about and its link catches: a deploy checks every node of one process
# in a row, so one index per process instead of a scan of every node per link throw
_catches_of: list[tuple[Process, frozenset[tuple[str | None, str]]]] = []


def _link_catches(process: Process) -> frozenset[tuple[str | None, str]]:
    """(scope, link name) of every link catch event of `process`."""
    last = _catches_of[0] if _catches_of else None  # one read: threads may deploy at once
    if last is not None and last[0] is process:
        return last[1]
    catches = frozenset(
        (n.parent, _link_name(n)) for n in process.nodes.values()
        if n.kind == NodeKind.INTERMEDIATE_CATCH_EVENT and n.event_kind == EventKind.LINK
    )
    _catches_of[:] = [(process, catches)]
    return catches


def _link_name(node: FlowNode) -> str:
    ed = node.event_definition
    return (ed.link_name if ed else None) or node.name or ""


def _jump_to_link(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """A link throw ends here and the token reappears at the catch event of the same name."""
    target = ctx.proc.link_targets[(node.parent or "", _link_name(node))]
    scope_key = elem.scope_key
    waits.close_all(ctx, elem)
    ctx.write_element(Event.ELEMENT_COMPLETED, elem, {"key": elem.key})
    flow.activate(ctx, scope_key, target)
