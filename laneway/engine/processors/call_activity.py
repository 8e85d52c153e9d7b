"""Call activities: the called process runs as a new instance; the caller waits for it."""

from __future__ import annotations

import uuid
from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours import work
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import Expression, FlowNode
from laneway.records import Command, IncidentType

_CHILD_NAMESPACE = uuid.UUID("6f1c2c53-5a53-4d0e-9b7c-2b3c0e0d4a11")


def child_instance_id(parent_instance_id: str, element_key: int) -> str:
    """The child's instance id, derived so that replays and retries name the same child."""
    return str(uuid.uuid5(_CHILD_NAMESPACE, f"{parent_instance_id}/{element_key}"))


@processor("callActivity")
class CallActivityProcessor:
    """Starts the child (a follow-up command, as it may live on another partition)."""

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
        variables = dict(ctx.inst.variables.get(elem.key, {})) if node.io.inputs else dict(seen)
        ctx.follow_up(Command.START_INSTANCE, child_instance_id(ctx.inst.instance_id, elem.key), {
            "processId": called,
            "variables": variables,
            "parent": {"instanceId": ctx.inst.instance_id, "elementKey": elem.key},
        })
