"""Multiple and parallel multiple events (BPMN 2.0.2 10.5.6, 13.5): several event
definitions on one event.

- A catch (start, intermediate, boundary, event subprocess start) waits on every definition
  (`waits.open_wait`). Multiple (`parallelMultiple="false"`) fires on the first of them and
  its other waits close as the catch leaves (or stay, for a non-interrupting one, which fires
  on each). Parallel multiple fires only when all have happened (`waits.fire`): each trigger's
  wait ends when it happens, and the catch fires with the last.
- A throw (intermediate throw, end) throws every definition in document order (`throw_all`);
  an end event's error or terminate comes after the others.

Refused at deploy, with the reason: kinds that cannot be one trigger among several (errors,
escalations, links, terminate, compensation, cancel on catches; links, compensation, cancel
on throws, and errors and terminate on intermediate throws or together), two timers on one
event, a timer among the triggers of a process start (the triggers service starts those,
from one timer), and parallel multiple where "all happened" cannot be told from the waits
alone: with a conditional trigger, on a non-interrupting boundary or event subprocess start,
on a process start.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.behaviours import flow, throw, work
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind, Process
from laneway.records import IncidentType

_CATCH_KINDS = frozenset(
    {EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL, EventKind.CONDITIONAL})
_PROCESS_START_KINDS = frozenset({EventKind.MESSAGE, EventKind.SIGNAL, EventKind.CONDITIONAL})
_THROW_KINDS = frozenset({EventKind.MESSAGE, EventKind.SIGNAL, EventKind.ESCALATION})
# an end event may also end with an error or terminate, after throwing the others
_END_KINDS = _THROW_KINDS | {EventKind.ERROR, EventKind.TERMINATE}
_CATCHES = frozenset(
    {NodeKind.START_EVENT, NodeKind.INTERMEDIATE_CATCH_EVENT, NodeKind.BOUNDARY_EVENT})


def throw_all(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """Throw every definition of a multiple throw event, then pass the token on (unless a
    catcher interrupted the thrower)."""
    for ed in node.event_definitions:
        if ed.kind == EventKind.SIGNAL:
            throw.broadcast_signal(ctx, elem, node, ed)
        elif ed.kind == EventKind.MESSAGE:
            if not throw.publish_message(ctx, elem, node, ed):
                return
        elif ed.kind == EventKind.ESCALATION:
            code = ctx.proc.escalation_code(ed.ref) or ""
            throw.throw(ctx, elem, EventKind.ESCALATION, code)
        if elem.key not in ctx.inst.elements:
            return
    # an end event's error or terminate comes last: either ends what the others leave going
    error = next((ed for ed in node.event_definitions if ed.kind == EventKind.ERROR), None)
    if error is not None:
        code = ctx.proc.error_code(error.ref) or ""
        if not throw.throw(ctx, elem, EventKind.ERROR, code):
            work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                                f"Expected to throw an error event with the code '{code}', "
                                "but it was not caught")
        return
    if any(ed.kind == EventKind.TERMINATE for ed in node.event_definitions):
        flow.terminate_children(ctx, ctx.inst.elements[elem.scope_key], keep=elem.key)
    flow.complete(ctx, elem)


def problems(process: Process, node: FlowNode) -> Iterator[str]:
    """Why the engine cannot run this event with several definitions (nothing when it can)."""
    kinds = [ed.kind for ed in node.event_definitions]
    if node.kind in _CATCHES:
        esp = process.nodes.get(node.parent) if node.parent else None
        process_start = node.kind == NodeKind.START_EVENT and not (
            esp is not None and esp.triggered_by_event)
        allowed = _PROCESS_START_KINDS if process_start else _CATCH_KINDS
        for kind in dict.fromkeys(k for k in kinds if k not in allowed):
            where = "a process start" if process_start else "a catch event"
            yield (f"a {kind.value} trigger cannot be one of several triggers of {where}; "
                   "use an event of its own")
        if kinds.count(EventKind.TIMER) > 1:
            yield "an event can wait on one timer only; combine them into one timer cycle"
        if node.parallel_multiple:
            yield from _parallel_problems(node, kinds, process_start)
    elif node.kind in (NodeKind.INTERMEDIATE_THROW_EVENT, NodeKind.END_EVENT):
        allowed = _END_KINDS if node.kind == NodeKind.END_EVENT else _THROW_KINDS
        for kind in dict.fromkeys(k for k in kinds if k not in allowed):
            yield (f"a {kind.value} event cannot be one of several events thrown at once; "
                   "throw it from an event of its own")
        if EventKind.ERROR in kinds and EventKind.TERMINATE in kinds:
            yield "an end event cannot both throw an error and terminate"
        for kind in (EventKind.ERROR, EventKind.TERMINATE):
            if kinds.count(kind) > 1:
                yield f"an end event can throw one {kind.value} event only"
    else:
        yield f"a {node.kind.value} cannot have several event definitions"


def _parallel_problems(node: FlowNode, kinds: list[EventKind],
                       process_start: bool) -> Iterator[str]:
    if process_start:
        yield ("a parallel multiple process start (every trigger before an instance starts) "
               "is not supported; start on one trigger and catch the others in the process")
    if EventKind.CONDITIONAL in kinds:
        yield ("a conditional trigger cannot be part of a parallel multiple event (its "
               "condition has no wait to remember it held); catch it in an event of its own")
    if (node.kind == NodeKind.BOUNDARY_EVENT and not node.cancel_activity) or (
            node.kind == NodeKind.START_EVENT and not node.interrupting):
        yield ("a non-interrupting parallel multiple event is not supported (its triggers "
               "would each fire again); make it interrupting or use parallelMultiple=\"false\"")
