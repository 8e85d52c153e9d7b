"""Start process instances: `POST /api/instances`.

The instance projection and its routes (`GET /api/instances...`) are the audit service's; the
edge sends this one path to this service by method (edge/routes.toml)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command, command
from laneway.telemetry import instance_span
from services.definitions.deps import CurrentPrincipal, Deps, Operator
from services.definitions.lifecycle import State
from services.definitions.models import (
    Detail,
    InstanceCancellation,
    StartedInstance,
    StartInstance,
)
from services.definitions.routes._operator import send_to_instance
from services.definitions.routes.forms import start_form_refusal
from services.definitions.store import missing_version

router = APIRouter(prefix="/api/instances", tags=["instances"], dependencies=TOKEN_REQUIRED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Start a process instance",
    description="Checks that the version is AUTHORIZED (without a version: takes the newest "
                "AUTHORIZED one) and that the variables fit its start form if its none start "
                "event names one (docs/forms.md), then produces a START_INSTANCE command "
                "naming that version to `commands`, keyed by the new instance id. The engine "
                "starts the instance asynchronously; query it with GET "
                "/api/instances/{instanceId} (served by the audit service).",
    response_model=StartedInstance,
    responses={404: {"model": Detail, "description": "No such process or version."},
               409: {"model": Detail, "description": "The version is not AUTHORIZED (its "
                                                     "state is named), or no version is; or "
                                                     "its start form is not in the "
                                                     "registry."},
               422: {"description": "A malformed body, variables Avro cannot carry, or "
                                    "variables the version's start form refuses (`errors`: "
                                    "`[{field, message}]`, as the public form)."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time."}},
)
def start_instance(body: StartInstance, deps: Deps,
                   principal: CurrentPrincipal) -> StartedInstance | JSONResponse:
    """Start an instance of an AUTHORIZED process version."""
    version = startable_version(deps, body.process_id, body.version)
    # a start form says what starting needs, whoever starts: the console's "Start process",
    # an integration, the public form (which checks the same way)
    target = deps.start_forms.of_version(body.process_id, version)
    deps.publisher.check_variables(body.variables)  # 413 before the form check
    refused = start_form_refusal(deps, body.process_id, target, body.variables) \
        if target is not None else None
    if refused is not None:
        return refused
    instance_id = str(body.instance_id or uuid.uuid4())
    # the version is always named: the engine's "latest" may be a RETIRED one
    value: dict[str, Any] = {"processId": body.process_id, "variables": body.variables,
                             "version": version}
    if body.business_key is not None:
        value["businessKey"] = body.business_key
    # the first span of the instance's trace (its id is the trace id); the command carries it
    with instance_span("laneway.api.start_instance", instance_id, kind=SpanKind.SERVER,
                       attributes={"laneway.process_id": body.process_id,
                                   "laneway.process_version": version}):
        deps.publisher.send_command(command(
            Command.START_INSTANCE, instance_id, value, record_id=str(uuid.uuid4()),
            timestamp=deps.clock_ms(), principal=principal))
    deps.metrics.starts.inc()
    return StartedInstance(instance_id=instance_id)


def startable_version(deps: Deps, process_id: str, version: int | None) -> int:
    """The version to start: the given one if AUTHORIZED, else the newest AUTHORIZED one;
    404 for an unknown process or version, 409 naming the state otherwise."""
    states = deps.definitions.states(process_id)
    if not states or (version is not None and version not in states):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            missing_version(process_id, version, sorted(states)))
    if version is not None:
        if states[version] != State.AUTHORIZED:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"Expected version {version} of process '{process_id}' to be "
                                f"AUTHORIZED, but it is {states[version]}")
        return version
    authorized = [v for v, s in states.items() if s == State.AUTHORIZED]
    if not authorized:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Expected an AUTHORIZED version of process '{process_id}', but "
                            f"none is: {', '.join(f'v{v} {s}' for v, s in states.items())}")
    return max(authorized)


@router.post(
    "/{instance_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a process instance",
    description="Produces a CANCEL_INSTANCE command keyed by the instance id: the engine "
                "terminates every element of the instance (and of the instances its call "
                "activities started); its open user tasks turn `cancelled`. An instance that "
                "has already ended is rejected by the engine (see its history).",
    responses={404: {"model": Detail, "description": "No such instance."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time, or "
                                                     "the audit service's instance projection "
                                                     "is not there yet."}},
)
def cancel_instance(instance_id: str, deps: Deps, principal: Operator) -> InstanceCancellation:
    """Ask the engine to terminate an instance (role operator, as resolving an incident)."""
    cid = send_to_instance(deps, instance_id, Command.CANCEL_INSTANCE, {}, principal)
    return InstanceCancellation(instance_id=instance_id, command_id=cid)

