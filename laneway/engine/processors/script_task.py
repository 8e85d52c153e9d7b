"""Script tasks: FEEL and JavaScript scripts run in the engine; any other language becomes a
'script' job.

Activated, a FEEL script (Zeebe's `zeebe:script`) is evaluated with the variables the task
sees and the task completes with the value in its result variable (an evaluation error is an
incident `EXTRACT_VALUE_ERROR`). A JavaScript script (`scriptFormat` javascript, ecmascript,
js) runs in the engine's sandbox (`laneway.engine.scripting`): the variables it changed and
set, and its completion value in the result variable, are the task's result, which goes where
a job's result goes; a BPMN error it throws is thrown from the task; anything else it throws,
and a script beyond its time, memory or stack limit, is an incident `SCRIPT_ERROR` (resolving
it runs the script again). A script in another language (Groovy, Python, ...), or a task
naming a job type, becomes a job for a worker and completes with its answer, like a service
task. A task without a script passes the token on.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Any

from laneway.bpmn._expressions import normalize_language
from laneway.engine.behaviours import flow, throw, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.scripting import ScriptError, is_javascript, run_js
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError, compile_expression
from laneway.model import EventKind, FlowNode
from laneway.records import IncidentType

# `scriptFormat` -> its normalised language; a deployment has few distinct ones, and the bound
# keeps diagrams with made-up formats from growing it
_language = lru_cache(maxsize=256)(normalize_language)


class ScriptTaskProcessor(ElementProcessor):
    """Evaluates a FEEL or JavaScript script into its result, or hands the script to a
    worker."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if not node.script:
            flow.complete(ctx, elem)
            return
        # the language once per activation, from a cache: a FEEL script task is on the hot
        # path of every token through it
        language = _language(node.script_format) if node.job_type is None else None
        if language != "feel":
            if is_javascript(language) and ctx.limits.scripts.in_engine:
                _run_javascript(ctx, elem, node)
                return
            work.create_job(ctx, elem, node, node.job_type or "script", {
                "script": node.script, "scriptFormat": node.script_format})
            return
        try:
            # FEEL is neither opaque nor a resource: `expressions.evaluate`'s checks would pass
            value = compile_expression(node.script).evaluate(vars_.visible(ctx.inst, elem.key))
        except ExpressionError as exc:
            work.raise_incident(ctx, elem, IncidentType.EXTRACT_VALUE_ERROR,
                                f"Expected to evaluate the script of '{node.id}', but {exc}")
            return
        flow.complete(ctx, elem, {node.result_variable: value} if node.result_variable else {})


def _run_javascript(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    assert node.script is not None
    # the script's time is the smaller of its own limit and what is left of the command's
    # budget; `check_clock` then makes a command out of time a BUDGET_EXCEEDED, not a
    # script's incident
    budget = ctx.budget
    budget.check_clock()
    seed = zlib.crc32(f"{ctx.inst.instance_id}/{elem.key}".encode())
    try:
        result = run_js(node.script, dict(vars_.visible(ctx.inst, elem.key)),
                        ctx.limits.scripts, now_ms=ctx.cmd.timestamp, seed=seed,
                        max_seconds=budget.seconds_left(),
                        about={"instanceId": ctx.inst.instance_id,
                               "businessKey": ctx.inst.business_key,
                               "processId": ctx.inst.process_id, "elementId": node.id})
    except ScriptError as exc:
        budget.check_clock()
        work.raise_incident(ctx, elem, IncidentType.SCRIPT_ERROR,
                            f"Expected the script of '{node.id}' to run, but {exc}")
        return
    budget.check_clock()
    if result.bpmn_error is not None:
        code, message = result.bpmn_error
        if not throw.throw(ctx, elem, EventKind.ERROR, code, message, result.variables):
            work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                                f"Expected to throw an error event with the code '{code}', "
                                "but it was not caught")
        return
    values = dict(result.variables)
    if node.result_variable:
        values[node.result_variable] = result.value
    flow.complete(ctx, elem, values)
