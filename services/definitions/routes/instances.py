"""Start process instances and query the instance projection."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from laneway.records import Command, command
from services.definitions.deps import TOKEN_REQUIRED, CurrentPrincipal, Deps
from services.definitions.lifecycle import State
from services.definitions.models import (
    Detail,
    InstancePage,
    InstanceStatus,
    InstanceView,
    StartedInstance,
    StartInstance,
)
from services.definitions.store import InstanceRow, missing_version

router = APIRouter(prefix="/api/instances", tags=["instances"], dependencies=TOKEN_REQUIRED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Start a process instance",
    description="Checks that the version is AUTHORIZED (without a version: takes the newest "
                "AUTHORIZED one), then produces a START_INSTANCE command naming that version "
                "to `commands`, keyed by the new instance id. The engine starts the instance "
                "asynchronously; query it with GET /api/instances/{instanceId}.",
    responses={404: {"model": Detail, "description": "No such process or version."},
               409: {"model": Detail, "description": "The version is not AUTHORIZED (its "
                                                     "state is named), or no version is."},
               422: {"description": "A malformed body, or variables Avro cannot carry."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time."}},
)
def start_instance(body: StartInstance, deps: Deps,
                   principal: CurrentPrincipal) -> StartedInstance:
    """Start an instance of an AUTHORIZED process version."""
    version = startable_version(deps, body.process_id, body.version)
    instance_id = str(uuid.uuid4())
    # the version is always named: the engine's "latest" may be a RETIRED one
    value: dict[str, Any] = {"processId": body.process_id, "variables": body.variables,
                             "version": version}
    if body.business_key is not None:
        value["businessKey"] = body.business_key
    deps.publisher.send_command(command(
        Command.START_INSTANCE, instance_id, value, record_id=str(uuid.uuid4()),
        timestamp=deps.clock_ms(), principal=principal))
    deps.metrics.starts.inc()
    return StartedInstance(instance_id=instance_id)


@router.get("/{instance_id}", summary="An instance's projected state",
            responses={404: {"model": Detail, "description": "No such instance (yet)."}})
def get_instance(instance_id: str, deps: Deps) -> InstanceView:
    """An instance as last seen on the `state` topic."""
    row = deps.instances.get(instance_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an instance '{instance_id}', but there is none (an "
                            "instance shows here once the engine has started it)")
    return _view(row)


@router.get("", summary="Search instances")
def list_instances(
    deps: Deps,
    process_id: Annotated[str | None, Query(alias="processId",
                                            description="Only this process.")] = None,
    status_: Annotated[InstanceStatus | None, Query(alias="status",
                                                    description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> InstancePage:
    """Instances by process and status, most recently updated first."""
    count, rows = deps.instances.search(process_id, status_, limit, offset)
    return InstancePage(count=count, items=[_view(r) for r in rows])


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


def _view(row: InstanceRow) -> InstanceView:
    return InstanceView.model_validate({
        "instanceId": row.instance_id, "processId": row.process_id, "version": row.version,
        "businessKey": row.business_key, "status": row.status,
        "activeElements": row.active_elements, "variables": row.variables,
        "incidents": row.incidents, "updatedAt": row.updated_at,
    })
