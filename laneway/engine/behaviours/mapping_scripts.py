"""Scripts in input/output mappings (Camunda 7's `camunda:script` parameters).

A parameter whose value is a JavaScript script runs in the engine's sandbox
(`laneway.engine.scripting.run_js`), as a script task's script does, with the variables the
mapping sees; the script's completion value (its last expression) is the parameter's value.
Variables it assigns or sets with `execution.setVariable` stay in the script: a mapping makes
one value, the parameter, and nothing else. A script that throws (a BPMN error included: a
mapping is no activity that could throw one), goes beyond its limits, or leaves a value that is
no JSON raises `ExpressionError`, which the caller turns into an `IO_MAPPING_ERROR` incident
with the script's own message. A script in another language (Groovy, Python, ...), and one the
diagram keeps in an external `resource` (refused at deploy; never read), stays an
`ExpressionError` from `evaluate` with a message saying so.

Determinism and budget as in script tasks: `Date.now()` is the command's timestamp,
`Math.random()` is seeded from the instance, element instance and parameter, and the script's
time is the smaller of its own limit and what is left of the command's budget (a command out
of time is `BudgetExceeded`, not the mapping's incident).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate
from laneway.engine.scripting import ScriptError, is_javascript, run_js
from laneway.engine.state import ElementInstance
from laneway.expr import ExpressionError
from laneway.model import Expression


def map_values(
    ctx: Processing,
    elem: ElementInstance,
    mappings: tuple[tuple[Expression, str], ...] | list[tuple[Expression, str]],
    seen: Mapping[str, Any],
) -> dict[str, Any]:
    """`{target: value}` of each mapping, in order; raises ExpressionError."""
    values: dict[str, Any] = {}
    for source, target in mappings:
        if is_javascript(source.language):
            if not ctx.limits.scripts.in_engine:
                raise ExpressionError(
                    f"the value of '{target}' is a javascript script, and JavaScript runs in "
                    "workers here (LANEWAY_ENGINE_JAVASCRIPT=job), where a mapping cannot go",
                    source.raw)
            values[target] = _run(ctx, elem, source, target, seen)
        else:
            values[target] = evaluate(source, seen)
    return values


def _run(ctx: Processing, elem: ElementInstance, source: Expression, target: str,
         seen: Mapping[str, Any]) -> Any:
    budget = ctx.budget
    budget.check_clock()
    seed = zlib.crc32(f"{ctx.inst.instance_id}/{elem.key}/{target}".encode())
    try:
        result = run_js(source.text, dict(seen), ctx.limits.scripts,
                        now_ms=ctx.cmd.timestamp, seed=seed,
                        max_seconds=budget.seconds_left(),
                        about={"instanceId": ctx.inst.instance_id,
                               "businessKey": ctx.inst.business_key,
                               "processId": ctx.inst.process_id,
                               "elementId": elem.element_id})
    except ScriptError as exc:
        budget.check_clock()
        raise ExpressionError(f"the javascript script of '{target}' failed: {exc}",
                              source.raw) from None
    budget.check_clock()
    if result.bpmn_error is not None:
        code, _message = result.bpmn_error
        raise ExpressionError(
            f"the javascript script of '{target}' threw the BPMN error '{code}', and a "
            "mapping cannot throw one (throw it from a script task)", source.raw)
    return result.value
