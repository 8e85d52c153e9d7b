"""Start events: the token passes, carrying the variables of the event that started it.

A none start event starts a scope when the scope starts; a message, timer or signal start of
the process starts a new instance there (`PUBLISH_MESSAGE`, `BROADCAST_SIGNAL`, the trigger
service) with the event's variables. Either way what started it is already done, so it passes
the token on at once. The start event of an event subprocess waits on behalf of the enclosing
scope; what happens when its event arrives is in `subprocess.py`.

Deploy: a process starts on none, message, timer or signal events; an event subprocess on
message, timer, signal, error, escalation or (inside a subprocess, which it then compensates:
`behaviours.compensation`) compensation events; a timer says when.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.processors.base import ElementProcessor, check_condition, check_timer
from laneway.model import EventKind, FlowNode, Process

_EVENTS = frozenset(
    {EventKind.NONE, EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL, EventKind.CONDITIONAL})
_EVENT_SUBPROCESS_EVENTS = frozenset(
    {EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL, EventKind.ERROR, EventKind.ESCALATION,
     EventKind.CONDITIONAL, EventKind.COMPENSATE}
)


class StartEventProcessor(ElementProcessor):
    """None, message, timer and signal starts alike: the token passes on (the default)."""

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        kind = node.event_kind
        parent = process.nodes.get(node.parent) if node.parent else None
        if parent is not None and parent.triggered_by_event:
            if kind not in _EVENT_SUBPROCESS_EVENTS:
                yield f"an event subprocess cannot start on a {kind.value} event"
            elif kind == EventKind.COMPENSATE and not parent.parent:
                yield ("a compensation event subprocess compensates the subprocess it is in; "
                       "at the process level there is none")
        elif parent is not None and kind != EventKind.NONE:
            # a subprocess (or transaction) is started by its token, never by an event
            yield (f"a start event inside {parent.kind.value} '{parent.id}' has no trigger "
                   f"(BPMN 10.5.2), but this one is a {kind.value} start event")
        elif kind not in _EVENTS:
            yield f"{kind.value} start events are not supported"
        yield from check_timer(node)
        yield from check_condition(node)
