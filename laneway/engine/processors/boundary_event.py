"""Boundary events: timer, message, signal, error and escalation events attached to an
activity.

When the activity activates, the boundary events' timers and subscriptions open on the
activity (`waits.open_boundaries`); they close when it leaves. When the event arrives (a
wait fires, or an error or escalation thrown inside the activity is caught here by
`behaviours.throw`), an interrupting boundary event terminates the activity, a
non-interrupting one leaves it running and keeps waiting (a timer cycle re-arms, a message
subscribes again). Then the boundary event activates in the activity's scope and its token
leaves at once. On a multi-instance activity they attach to the body. A cancel boundary event
on a transaction is taken once a cancel end event in it has compensated it; a compensation
boundary event is never taken: it names (by an association) the handler that compensates its
activity (`behaviours.compensation`).

Deploy: attached to an activity (not to an event subprocess) and triggered by a supported event;
cancel only on a transaction; compensation associated with a handler `isForCompensation`.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor, check_event
from laneway.engine.processors.transaction import check_compensation_boundary
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, Process

_EVENTS = frozenset(
    {EventKind.ERROR, EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.ESCALATION,
     EventKind.CONDITIONAL, EventKind.COMPENSATE, EventKind.CANCEL}
)


class BoundaryEventProcessor(ElementProcessor):
    """Interrupts (or not) its activity when its event arrives, then passes the token on."""

    def on_event(
        self, ctx: Processing, owner: ElementInstance, catch: FlowNode, arrival: Arrival
    ) -> None:
        # `owner` is the activity the boundary event is attached to
        scope_key = owner.scope_key
        if catch.cancel_activity:
            flow.terminate(ctx, owner)
        else:
            waits.rearm(ctx, owner, catch, arrival)
        flow.activate(ctx, scope_key, catch, trigger=arrival.payload)

    def keeps_waiting(self, catch: FlowNode) -> bool:
        return not catch.cancel_activity

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        yield from check_event(node, _EVENTS)
        if not node.attached_to:
            yield "boundary event is attached to nothing (attachedToRef)"
            return
        host = process.nodes.get(node.attached_to)
        if host is not None and host.triggered_by_event:
            yield (f"boundary event is attached to event subprocess '{host.id}', which BPMN "
                   "does not allow; catch the event in the subprocess instead")
        yield from check_compensation_boundary(process, node, host)
