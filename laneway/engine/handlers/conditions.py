"""Conditional starts of a process (BPMN 2.0.2 10.5.2: a conditional start event starts an
instance when its condition becomes true).

A process that has not started has no variables of its own, so its conditions are about data
from outside. As Camunda 7's `evaluateConditions`, the engine evaluates them when told of such
data: `EVALUATE_CONDITIONS {variables, processId?}` evaluates the conditional start events of
the newest version (not retired) of every process, or of the one named, with these variables,
and starts one instance at each start event whose condition holds, with the variables (ids
derived from the command and the start event, so a repeated command starts nothing twice).
When no condition holds the command is rejected `NOT_FOUND`, as Camunda's call fails when no
start event matched; a condition that fails to evaluate does not hold.
"""

from __future__ import annotations

from laneway.engine.conditionals import conditions_of
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate_condition
from laneway.engine.handlers._common import command_variables
from laneway.engine.handlers.events import started_instance_id
from laneway.expr import ExpressionError
from laneway.model import Expression
from laneway.records import Command, RejectionType


def evaluate_conditions(ctx: Processing) -> None:
    """Start an instance at every top-level conditional start event that holds."""
    v = ctx.cmd.value
    process_id = v.get("processId")
    if process_id is not None and not isinstance(process_id, str):
        ctx.reject("Expected processId to be a string", RejectionType.INVALID_ARGUMENT)
        return
    variables = command_variables(ctx)
    if variables is None:
        return
    started = 0
    for proc in ctx.repository.latest_versions():
        if process_id and proc.id != process_id:
            continue
        for start in proc.start_events:
            conditions = conditions_of(start)
            if not conditions or not any(_holds(c, variables) for c in conditions):
                continue
            started += 1
            ctx.follow_up(Command.START_INSTANCE,
                          started_instance_id(f"{ctx.cmd.record_id}#{start.id}", proc.id),
                          {"processId": proc.id, "startEventId": start.id,
                           "variables": variables})
    if not started:
        where = f"process '{process_id}'" if process_id else "any deployed process"
        ctx.reject(f"Expected a conditional start event of {where} whose condition holds for "
                   "these variables, but there is none", RejectionType.NOT_FOUND)


def _holds(condition: Expression, variables: dict[str, object]) -> bool:
    try:
        return evaluate_condition(condition, variables)
    except ExpressionError:
        return False
