"""What a multi-instance activity throws as its instances complete (BPMN 2.0.2, 10.3.8
"Multi-Instance Activity" and 13.3.7): its `behavior` says which events.

- `All` (the default): nothing;
- `None`: the event `noneBehaviorEventRef` names, each time an instance completes;
- `One`: the event `oneBehaviorEventRef` names, once, when the first instance completes;
- `Complex`: each `complexBehaviorDefinition` whose condition holds when an instance completes
  throws its event (the condition sees `nrOfInstances`, `nrOfCompletedInstances`,
  `nrOfActiveInstances` and the variables).

Each is an implicit throw event of the activity's body: a signal reaches this instance's
subscribers at once (a signal boundary event on the activity included) and every other one by
broadcast; an escalation looks for a catcher from the activity outward (its own boundary
events first); a message is published. A catcher that interrupts ends the activity; otherwise
the instances go on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from laneway.engine.behaviours import throw, work
from laneway.engine.context import Processing
from laneway.engine.expressions import compiles, evaluate_condition
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import EventDefinition, EventKind, FlowNode
from laneway.records import IncidentType

THROWABLE = frozenset({EventKind.NONE, EventKind.SIGNAL, EventKind.ESCALATION,
                       EventKind.MESSAGE})


def throws_events(node: FlowNode) -> bool:
    """Whether the activity throws anything as its instances complete (cheap: asked once per
    completed instance)."""
    loop = node.loop
    return loop is not None and loop.behavior != "All"


def on_instance_completed(ctx: Processing, body: ElementInstance, node: FlowNode,
                          seen: Mapping[str, Any]) -> bool:
    """Throw what the behavior says after an inner instance completed; `seen` is what a
    condition sees. False when the body is gone (an interrupting catcher) or stopped on an
    incident."""
    loop = node.loop
    assert loop is not None
    events: list[EventDefinition] = []
    if loop.behavior == "None" and loop.none_behavior_event is not None:
        events.append(loop.none_behavior_event)
    elif loop.behavior == "One" and loop.one_behavior_event is not None:
        if body.mi_completed == 1:
            events.append(loop.one_behavior_event)
    elif loop.behavior == "Complex":
        for definition in loop.complex_behaviors:
            if definition.event is None:
                continue
            try:
                holds = (definition.condition is None
                         or evaluate_condition(definition.condition, seen))
            except ExpressionError as exc:
                work.raise_incident(ctx, body, IncidentType.CONDITION_ERROR,
                                    f"Expected to evaluate the complex behavior condition of "
                                    f"'{node.id}', but {exc}", stage="complete")
                return False
            if holds:
                events.append(definition.event)
    for event in events:
        _throw(ctx, body, node, event)
        if body.key not in ctx.inst.elements:
            return False
    return True


def _throw(ctx: Processing, body: ElementInstance, node: FlowNode, ed: EventDefinition) -> None:
    as_thrower = dataclasses.replace(node, event_definitions=(ed,))
    if ed.kind == EventKind.SIGNAL:
        throw.broadcast_signal(ctx, body, as_thrower)
    elif ed.kind == EventKind.ESCALATION:
        throw.throw(ctx, body, EventKind.ESCALATION, ctx.proc.escalation_code(ed.ref) or "")
    elif ed.kind == EventKind.MESSAGE:
        throw.publish_message(ctx, body, as_thrower)
    # a none event signals nothing to anyone


def check(node: FlowNode) -> Iterator[str]:
    """At deploy: the events a behavior names can be thrown, the conditions evaluated."""
    loop = node.loop
    if loop is None or not loop.multi_instance:
        return
    named = {"None": [loop.none_behavior_event], "One": [loop.one_behavior_event],
             "Complex": [d.event for d in loop.complex_behaviors]}.get(loop.behavior, [])
    for ed in named:
        if ed is not None and ed.kind not in THROWABLE:
            yield (f"multi-instance behavior {loop.behavior} throws a {ed.kind.value} event, "
                   "but only none, signal, escalation and message events can be thrown there")
    for definition in loop.complex_behaviors if loop.behavior == "Complex" else ():
        if definition.condition is not None and not compiles(definition.condition):
            yield (f"complex behavior condition '{definition.condition.raw}' cannot be "
                   "evaluated")
