"""Script tasks: FEEL scripts run in the engine; any other language becomes a 'script' job.

Activated, a FEEL script (Zeebe's `zeebe:script`) is evaluated with the variables the task
sees and the task completes with the value in its result variable (an evaluation error is an
incident `EXTRACT_VALUE_ERROR`). A script in another language, or a task naming a job type,
becomes a job for a worker and completes with its answer, like a service task. A task without
a script passes the token on.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import Expression, FlowNode
from laneway.records import IncidentType


class ScriptTaskProcessor(ElementProcessor):
    """Evaluates a FEEL script into its result variable, or hands the script to a worker."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if node.job_type is not None or not node.script:
            if not node.script:
                flow.complete(ctx, elem)
                return
            work.create_job(ctx, elem, node, node.job_type or "script", {
                "script": node.script, "scriptFormat": node.script_format})
            return
        try:
            value = evaluate(Expression(node.script, node.script, "feel"),
                             vars_.visible(ctx.inst, elem.key))
        except ExpressionError as exc:
            work.raise_incident(ctx, elem, IncidentType.EXTRACT_VALUE_ERROR,
                                f"Expected to evaluate the script of '{node.id}', but {exc}")
            return
        flow.complete(ctx, elem, {node.result_variable: value} if node.result_variable else {})
