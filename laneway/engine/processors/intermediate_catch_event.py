"""Intermediate catch events: timer, message and signal waits; link targets pass through.

Activated by a token, a timer, message or signal catch event waits on its event on itself
(`wait_on`: a timer due from the command's time, a message subscription by name and
correlation key, a signal subscription); when it arrives, the event completes with the event's
variables and its waits close. After an event-based gateway it is activated with the event that
already arrived (`trigger`) and passes the token on at once; so does a link catch event, where
a link throw event sends its token.

Deploy: triggered by a timer (that says when), message, signal or link.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import flow
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor, check_event
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, Process

_EVENTS = frozenset({EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.LINK,
                     EventKind.CONDITIONAL})


class IntermediateCatchEventProcessor(ElementProcessor):
    """Waits on its event, or completes at once when an event-based gateway already caught
    it (trigger given) or it is a link target."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if trigger is not None or node.event_kind in (EventKind.LINK, EventKind.NONE):
            flow.complete(ctx, elem, trigger)
            return
        self.wait_on(ctx, elem, node)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        return check_event(node, _EVENTS)
