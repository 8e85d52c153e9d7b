"""Resolve incidents: the engine retries the job or the step that failed."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, HTTPException, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command, command
from laneway.shared_reads import OwnerTableMissing
from laneway.web.bounds import keyed_id
from services.definitions.deps import Deps, Operator
from services.definitions.models import Detail, IncidentResolution, ResolveIncident

_log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=TOKEN_REQUIRED)


@router.post(
    "/{incident_id}/resolve",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Resolve an incident",
    description="`incident_id` is `<instanceId>:<key>` as the instance's `incidents` list shows "
                "it. Produces a RESOLVE_INCIDENT command: a job's incident makes the engine "
                "create the job again with `retries`; another incident runs the failed step "
                "again. An incident already resolved is rejected by the engine (see history).",
    responses={404: {"model": Detail, "description": "No such instance, or a malformed id."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time, or "
                                                     "the audit service's instance projection "
                                                     "is not there yet."}},
)
def resolve_incident(incident_id: str, deps: Deps, principal: Operator,
                     body: ResolveIncident | None = None) -> IncidentResolution:
    """Ask the engine to pick up after an incident."""
    parsed = keyed_id(incident_id)
    if parsed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an incident id '<instanceId>:<key>', but got "
                            f"'{incident_id}'")
    instance_id, key = parsed
    try:
        known = deps.instances.exists(instance_id)
    except OwnerTableMissing as exc:
        _log.error("incident %r: %s", incident_id, exc)  # names the table: not the caller's
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the instances the audit service projects, but it has not "
                            "started yet. Retry shortly.", headers={"Retry-After": "5"}) from exc
    if not known:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an instance '{instance_id}', but there is none")
    retries = (body or ResolveIncident()).retries
    deps.publisher.send_command(command(
        Command.RESOLVE_INCIDENT, instance_id, {"incidentKey": key, "retries": retries},
        record_id=str(uuid.uuid4()), timestamp=deps.clock_ms(), principal=principal))
    return IncidentResolution(instance_id=instance_id, incident_key=key)
