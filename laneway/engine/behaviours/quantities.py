"""BPMN token quantities (10.3.1, 13.2.1): an activity with `startQuantity` n > 1 starts
only once n tokens have arrived on its incoming flows (any mix of them), consuming n; one with
`completionQuantity` m > 1 sends m tokens on each outgoing flow it takes when it completes.

Only diagrams that write a quantity other than 1 pay for this: such an activity is a joining
node of its version (`ExecutableProcess.joining`), so its arriving tokens wait in the
instance's `joins` like those of a parallel join; every other activity is reached as before.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.behaviours import flow
from laneway.engine.context import Processing
from laneway.model import FlowNode
from laneway.model._elements import ACTIVITY_KINDS
from laneway.records import Event

#: the most tokens a quantity may name: each is a step of the command that makes them
MAX_QUANTITY = 1000


def on_join(ctx: Processing, scope_key: int, node: FlowNode) -> None:
    """A token arrived at an activity that waits for `startQuantity` of them."""
    ctx.later(lambda: _try_start(ctx, scope_key, node))


def _try_start(ctx: Processing, scope_key: int, node: FlowNode) -> None:
    pending = ctx.inst.joins.get(scope_key, {}).get(node.id, [])
    if len(pending) < node.start_quantity:
        return
    ctx.write(Event.JOIN_CONSUMED, {"gateway": node.id,
                                    "flows": list(pending[:node.start_quantity])},
              element_id=node.id, element_type=node.kind.value, scope_id=scope_key)
    flow.activate(ctx, scope_key, node)


def problems(node: FlowNode) -> Iterator[str]:
    """Quantities the engine refuses at deploy: 0 (BPMN requires at least one token), text
    that is no number, and more tokens than `MAX_QUANTITY`."""
    if node.kind not in ACTIVITY_KINDS:
        return
    for name, value in (("startQuantity", node.start_quantity),
                        ("completionQuantity", node.completion_quantity)):
        if value < 1:
            yield f"{name} must be a whole number of at least 1 (BPMN 10.3.1)"
        elif value > MAX_QUANTITY:
            yield f"{name} {value} is more than the {MAX_QUANTITY} tokens the engine allows"
