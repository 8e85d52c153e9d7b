"""Embedded subprocesses and event subprocesses: a scope of their own (variables, tokens,
event subprocesses).

An embedded subprocess, activated by a token, opens the waits of its event subprocesses and
starts its entry nodes (`flow.start_scope`); it completes when no token is left inside
(`on_empty`), and terminating it terminates everything inside.

An event subprocess (`triggeredByEvent`) is never reached by a token: its start event waits on
behalf of the enclosing scope (the waits open when that scope starts), and it starts when the
event arrives (`on_event`): a timer, message or signal, or an error or escalation thrown inside
the scope (`behaviours.throw`). An interrupting start first terminates everything else in the
scope; one that arrived through a wait also closes the scope's other event subprocess waits.
A non-interrupting start keeps waiting (a timer cycle re-arms, a message subscribes again) and
the event subprocess runs beside the scope's tokens.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode
from laneway.records import Event


class SubProcessProcessor(ElementProcessor):
    """Starts its entry nodes; completes when no token is left inside. As an event subprocess,
    starts when its start event's event arrives."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        flow.start_scope(ctx, elem, node.id)

    def on_empty(self, ctx: Processing, scope: ElementInstance) -> None:
        flow.complete(ctx, scope)

    def on_event(
        self, ctx: Processing, owner: ElementInstance, catch: FlowNode, arrival: Arrival
    ) -> None:
        # `owner` is the scope the event subprocess lives in, `catch` its start event
        proc = ctx.proc
        assert catch.parent is not None
        esp = proc.node(catch.parent)
        if catch.interrupting:
            flow.terminate_children(ctx, owner)
            if arrival.waited:
                # An error or escalation start leaves the scope's other event subprocess waits
                # open (they end with the scope); kept as it always was.
                waits.close_matching(ctx, owner, {s.id for s in proc.esp_starts.values()})
        else:
            waits.rearm(ctx, owner, catch, arrival)
        key = ctx.new_key()
        ctx.write(Event.ELEMENT_ACTIVATED, {"key": key}, element_id=esp.id,
                  element_type=esp.kind.value, token_id=key, scope_id=owner.key)
        elem = ctx.inst.elements[key]
        flow.start_scope(ctx, elem, esp.id, trigger=arrival.payload, start=catch)

    def keeps_waiting(self, catch: FlowNode) -> bool:
        return not catch.interrupting
