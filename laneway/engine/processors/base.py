"""The contract of an element processor: everything one kind of element does over its life.

The engine calls a processor at each moment of an element's life; the defaults here are the
generic behaviour (a token passes straight through, the generic token movement of
`behaviours.flow` and `behaviours.waits`), so a processor overrides only what its kind does
differently. Which processor serves which kind is written down once, in
`laneway.engine.processors.ELEMENT_PROCESSORS`; the engine reaches it as `ctx.processors`.

The moments, in the order an element meets them:

- `on_arrive`: a token reached a multi-instance node: its body activates.
- `on_activate`: the element is active and its inputs are mapped; do what the element does.
- `wait_on`: open the wait for a catch event's trigger (timer, message, signal).
- `on_event`: an event the element (or a boundary event or event subprocess start it owns)
  waited on arrived.
- `on_join`: a token waits at a joining gateway.
- `on_complete`: the element is done; `on_child_completed` and `on_empty` are the enclosing
  scope's part of that.
- `on_terminate`: the element is terminated (after its children and waits ended).
- `check`: what the element must satisfy to be deployed at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from laneway.engine.behaviours import flow, quantities, waits
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.expressions import compiles, is_opaque
from laneway.engine.state import ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind, Process


class ElementProcessor:
    """One kind of element over its whole life. Subclasses override the moments their kind
    handles differently; every default is the generic behaviour."""

    #: an exclusive or inclusive gateway may hand the conditions of its outgoing flows to a
    #: decision handler, so the deploy check lets them be conditions the engine cannot evaluate
    decides_conditions: ClassVar[bool] = False
    #: how many flows a decision handler may choose for this gateway (None: any non-empty set)
    decided_flows: ClassVar[int | None] = None
    #: whether an incident at activation is resolved by running the activation again (a
    #: multi-instance body cannot: its inner instances have started; cancel the instance)
    reactivates_on_resolve: ClassVar[bool] = True

    def on_arrive(
        self, ctx: Processing, scope: ElementInstance, node: FlowNode,
        trigger: dict[str, Any] | None,
    ) -> None:
        """A token reached `node` in `scope`, a node this element wraps (only the multi-instance
        body does); every other token activates its element in `flow.activate` directly."""
        raise NotImplementedError(f"Expected '{node.id}' to be wrapped by a multi-instance body, "
                                  "but it is not")

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        """The element became active (inputs mapped); `trigger` carries the payload of the event
        that activated it (a message's variables), None for a plain token. By default the token
        passes straight through."""
        flow.complete(ctx, elem, trigger)

    def wait_on(self, ctx: Processing, owner: ElementInstance, catch: FlowNode) -> bool:
        """Make `owner` wait on the trigger of `catch` (a node of this kind). False if an
        incident was raised."""
        return waits.open_wait(ctx, owner, catch)

    def on_event(
        self, ctx: Processing, owner: ElementInstance, catch: FlowNode, arrival: Arrival
    ) -> None:
        """An event `owner` waited on arrived at `catch`. By default the waiting element is the
        catch itself and completes with the event's variables."""
        flow.complete(ctx, owner, arrival.payload)

    def keeps_waiting(self, catch: FlowNode) -> bool:
        """Whether the wait of `catch` stays open after its event arrived."""
        return False

    def on_join(self, ctx: Processing, scope_key: int, node: FlowNode) -> None:
        """A token arrived on one incoming flow of this joining gateway (or of an activity
        that waits for `startQuantity` tokens)."""
        if node.start_quantity > 1:
            quantities.on_join(ctx, scope_key, node)
            return
        raise NotImplementedError(f"Expected '{node.id}' to be a joining gateway, but it is a "
                                  f"{node.kind.value}")

    # The two moments every element meets on completion are the generic functions themselves,
    # not methods that call them: they run for every element, and a wrapper's extra call was
    # measurable in the core benchmark. Override them with ordinary methods.

    #: The element is done: map its outputs, end its waits and move the token on
    #: (`on_complete(ctx, elem, result, flows, trigger)`).
    on_complete = staticmethod(flow.complete_element)

    #: `child` (a node of any kind) in this scope is done and its waits are closed: it
    #: completes and its token takes `flows`, None running its loop again
    #: (`on_child_completed(ctx, scope, child, node, flows, trigger)`).
    on_child_completed = staticmethod(flow.move_on)

    def on_empty(self, ctx: Processing, scope: ElementInstance) -> None:
        """No token is left in this scope."""

    def on_terminate(self, ctx: Processing, elem: ElementInstance) -> None:
        """The element is being terminated; its children and waits have already ended."""

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        """Why the engine cannot run `node`, checked at deploy; nothing when it can."""
        return iter(())


def check_event(node: FlowNode, allowed: frozenset[EventKind]) -> Iterator[str]:
    """The deploy check every event shares: its trigger is one this kind supports, and a timer
    says when."""
    if node.event_kind not in allowed:
        yield f"{node.event_kind.value} {_words(node.kind)}s are not supported"
    yield from check_timer(node)
    yield from check_condition(node)


def check_condition(node: FlowNode) -> Iterator[str]:
    """A conditional event has a condition the engine can evaluate."""
    for ed in node.event_definitions:
        if ed.kind != EventKind.CONDITIONAL:
            continue
        if ed.condition is None or not ed.condition.text.strip():
            yield "conditional event has no condition"
        elif not compiles(ed.condition) or is_opaque(ed.condition):
            yield (f"condition '{ed.condition.raw.strip()}' of the conditional event cannot be "
                   "evaluated by the engine")


def check_timer(node: FlowNode) -> Iterator[str]:
    """A timer event names when it fires (its timer definition, one of several on a multiple
    event)."""
    ed = next((d for d in node.event_definitions if d.kind == EventKind.TIMER), None)
    if ed is None:
        return
    if not ed.timer:
        yield "timer event has no timeDate, timeDuration or timeCycle"
        return
    problem = waits.timer_problem(ed.timer)
    if problem is not None:
        yield f"timer '{ed.timer.expression.raw}' can never be scheduled: {problem}"


def _words(kind: NodeKind) -> str:
    out = []
    for ch in kind.value:
        if ch.isupper():
            out.append(" ")
        out.append(ch.lower())
    return "".join(out)
