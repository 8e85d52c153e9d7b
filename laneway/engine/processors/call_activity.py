"""Call activities: the called process runs as a new instance; the caller waits for it.

Activated, it evaluates the called element (`=expr` allowed) and starts the child with a
follow-up `START_INSTANCE` (the child may live on another partition), its id derived from the
caller's id and element key; a called process that is not deployed, or whose versions are all
retired, is an incident instead. When the child ends it sends `COMPLETE_CALL_ACTIVITY` and
the call activity completes with the child's variables (`child_completed`). An error or
escalation the child does not catch is thrown again at the call activity (the handlers in
`handlers/instances.py`). Terminating the call activity cancels the child.

Deploy: it names a called element.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import Expression, FlowNode, Process
from laneway.records import Command, IncidentType

_CHILD_NAMESPACE = uuid.UUID("6f1c2c53-5a53-4d0e-9b7c-2b3c0e0d4a11")


def child_instance_id(parent_instance_id: str, element_key: int) -> str:
    """The child's instance id, derived so that replays and retries name the same child."""
    return str(uuid.uuid5(_CHILD_NAMESPACE, f"{parent_instance_id}/{element_key}"))


class CallActivityProcessor(ElementProcessor):
    """Starts the child instance, completes when it ends, cancels it when terminated."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        called = node.called_element or ""
        seen = vars_.visible(ctx.inst, elem.key)
        if called.startswith("="):
            try:
                called = str(evaluate(Expression(called[1:], called, "feel"), seen))
            except ExpressionError as exc:
                work.raise_incident(ctx, elem, IncidentType.CALLED_ELEMENT_ERROR,
                                    f"Expected to evaluate the called element, but {exc}")
                return
        if not ctx.repository.has(called):
            work.raise_incident(ctx, elem, IncidentType.CALLED_ELEMENT_ERROR,
                                f"Expected process '{called}' to be deployed, but it is not")
            return
        try:
            ctx.repository.startable(called)
        except KeyError as exc:
            # every version is retired: the child's start would be rejected and the call
            # activity wait for good, so it waits on an incident someone can see instead
            work.raise_incident(ctx, elem, IncidentType.CALLED_ELEMENT_ERROR, str(exc.args[0]))
            return
        parent = ctx.inst.parent
        depth = (parent.depth if parent is not None else 0) + 1
        if depth > ctx.limits.max_call_depth:
            # a process that calls itself would start instances without end
            work.raise_incident(ctx, elem, IncidentType.CALLED_ELEMENT_ERROR,
                                f"Expected call activities to nest at most "
                                f"{ctx.limits.max_call_depth} deep, but calling '{called}' "
                                f"here would be {depth} deep")
            return
        variables = dict(ctx.inst.variables.get(elem.key, {})) if node.io.inputs else dict(seen)
        ctx.follow_up(Command.START_INSTANCE, child_instance_id(ctx.inst.instance_id, elem.key), {
            "processId": called,
            "variables": variables,
            "parent": {"instanceId": ctx.inst.instance_id, "elementKey": elem.key,
                       "depth": depth},
        })

    def on_terminate(self, ctx: Processing, elem: ElementInstance) -> None:
        ctx.follow_up(Command.CANCEL_INSTANCE, child_instance_id(ctx.inst.instance_id, elem.key),
                      {})

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        if not node.called_element:
            yield "call activity names no called element (calledElement)"


def child_completed(
    ctx: Processing, elem: ElementInstance, child_variables: dict[str, Any]
) -> None:
    """The child instance ended with `child_variables`: the call activity completes."""
    node = ctx.proc.node(elem.element_id)
    # As in Zeebe, output mappings read the child's variables even when they are not all
    # propagated; with output mappings only the mapped values reach the parent.
    keep = node.propagate_all_child_variables or bool(node.io.outputs)
    flow.complete(ctx, elem, child_variables if keep else {})
