"""Conditional starts from outside: `POST /api/conditions`.

BPMN's conditional start event starts an instance when its condition becomes true; a process
that has not started has only the data it is told of. This route tells the engine: it
produces `EVALUATE_CONDITIONS {variables, processId?}` (as Camunda 7's `evaluateConditions`),
and the engine starts an instance at every conditional start event of the newest deployed
version of each process (or of the one named) whose condition holds with the variables, or
rejects the command `NOT_FOUND` when none holds (docs/engine.md, "Conditional starts of a
process"). Who may start an instance may send it (the same token as `POST /api/instances`).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command, command
from services.definitions.deps import CurrentPrincipal, Deps
from services.definitions.models import ConditionsEvaluated, Detail, EvaluateConditions
from services.definitions.routes.starts import startable_version

router = APIRouter(prefix="/api/conditions", tags=["instances"], dependencies=TOKEN_REQUIRED)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Evaluate conditional start events",
    description="Produces an EVALUATE_CONDITIONS command to `messages` (one partition, as a "
                "message start). The engine evaluates the conditional start events of the "
                "newest deployed version of every process, or of `processId`, with the "
                "variables, and starts an instance (with the variables) at each one whose "
                "condition holds; when none holds it rejects the command NOT_FOUND, which the "
                "event log and the audit log show under the command id.",
    response_model=ConditionsEvaluated,
    responses={404: {"model": Detail, "description": "No such process."},
               409: {"model": Detail, "description": "The process has no AUTHORIZED version."},
               413: {"model": Detail, "description": "Variables over the size limit."},
               422: {"description": "A malformed body or variables Avro cannot carry."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time."}},
)
def evaluate_conditions(body: EvaluateConditions, deps: Deps,
                        principal: CurrentPrincipal) -> ConditionsEvaluated:
    """Tell the engine of data for conditional starts (whoever may start an instance)."""
    if body.process_id is not None:
        startable_version(deps, body.process_id, None)  # 404 / 409 before anything is sent
    record_id = str(uuid.uuid4())
    value: dict[str, Any] = {"variables": body.variables}
    if body.process_id is not None:
        value["processId"] = body.process_id
    # no instance yet: the record id is the command's instance id, so its rejection (and the
    # ids of the instances it starts, derived from it) can be found by it
    deps.publisher.send_command(command(
        Command.EVALUATE_CONDITIONS, record_id, value, record_id=record_id,
        timestamp=deps.clock_ms(), principal=principal))
    return ConditionsEvaluated(command_id=record_id)
