"""Resolve incidents: the engine retries the job or the step that failed."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command
from laneway.web.bounds import keyed_id
from services.definitions.deps import Deps, Operator
from services.definitions.models import Detail, IncidentResolution, ResolveIncident
from services.definitions.routes._operator import send_to_instance, shown

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
                            f"'{shown(incident_id)}'")
    instance_id, key = parsed
    retries = (body or ResolveIncident()).retries
    send_to_instance(deps, instance_id, Command.RESOLVE_INCIDENT,
                     {"incidentKey": key, "retries": retries}, principal)
    return IncidentResolution(instance_id=instance_id, incident_key=key)
