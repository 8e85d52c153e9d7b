"""Deploy process definitions, list them, export their XML."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.bpmn import MAX_BYTES
from services.definitions.deps import Deps, Modeler, UploadedDiagram, VersionNumber
from services.definitions.lifecycle import State as LifecycleState
from services.definitions.models import (
    DefinitionSummary,
    DeployedVersion,
    DeployResponse,
    Detail,
    DiagramErrors,
)
from services.definitions.store import missing_version

router = APIRouter(prefix="/api/definitions", tags=["definitions"], dependencies=TOKEN_REQUIRED)

_UPLOAD_BODY = {
    "required": True,
    "description": f"A BPMN 2.0 file of at most {MAX_BYTES // (1024 * 1024)} MiB (unless "
                   "LANEWAY_MAX_DIAGRAM_BYTES says otherwise), as raw XML (optionally named by "
                   "an `X-File-Name` header) or as the `file` part of a form.",
    "content": {
        "application/xml": {"schema": {"type": "string"}},
        "text/xml": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}},
    },
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Deploy a BPMN file",
    description="Checks the file as the engine will (parse, validate, runnable elements) "
                "and stores each process as a new DRAFT version (or finds the identical one "
                "already stored). Nothing reaches the engine until the version is AUTHORIZED "
                "(POST .../transitions). 201 when a version is new, 200 when every process "
                "was already deployed.",
    responses={
        200: {"model": DeployResponse, "description": "Nothing new: the same file again."},
        413: {"model": Detail, "description": "The body is over the size limit (20 MiB "
                                              "unless set)."},
        415: {"model": Detail, "description": "Not XML or a form."},
        422: {"model": DiagramErrors, "description": "The diagram was refused (also when "
                                                     "it is over the element, depth or "
                                                     "process limit, named in the error)."},
        503: {"model": Detail, "description": "Stored but not acknowledged by Kafka, or "
                                              "every deploy check busy: retry the same "
                                              "upload (it is idempotent)."},
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
def deploy_definitions(upload: UploadedDiagram, deps: Deps, principal: Modeler,
                       response: Response) -> DeployResponse:
    """Deploy every process of an uploaded BPMN file."""
    # a sync route: the check runs in a worker thread, and at most `deploy_checks` at once
    if not deps.checking.acquire(timeout=deps.deploy_wait_s):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"Expected a free deploy check, but {deps.deploy_checks} are under "
                            "way (LANEWAY_DEPLOY_CHECKS); retry", headers={"Retry-After": "1"})
    try:
        with deps.metrics.deploy_seconds.time():
            stored = deps.deployer.deploy(upload.data, upload.file_name, principal)
    finally:
        deps.checking.release()
    # the deploy's audit record (who authored the version); one that Kafka did not take is
    # sent by the same upload repeated, or at the next start
    for s in stored:
        deps.lifecycle.send_unsent_audit((s.process_id, s.version))
    for s in stored:
        deps.metrics.deploys.labels("new" if s.new else "unchanged").inc()
    if not any(s.new for s in stored):
        response.status_code = status.HTTP_200_OK
    return DeployResponse(deployed=[DeployedVersion(process_id=s.process_id,
                                                    version=s.version, new=s.new)
                                    for s in stored])


@router.get("", summary="List deployed process versions")
def list_definitions(
    deps: Deps,
    process_id: Annotated[str | None, Query(alias="processId",
                                            description="Only this process id.")] = None,
) -> list[DefinitionSummary]:
    """Every deployed version, latest deploy first."""
    return [DefinitionSummary(process_id=s.process_id, version=s.version, name=s.name,
                              deployed_at=s.deployed_at, digest=s.digest,
                              state=LifecycleState(s.state))
            for s in deps.definitions.list_versions(process_id)]


@router.get(
    "/{process_id}/versions/{version}/xml",
    summary="Export a version's BPMN XML",
    response_class=Response,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                     "description": "The file exactly as it was uploaded."},
               404: {"model": Detail, "description": "No such process version."}},
)
def definition_xml(process_id: str, version: VersionNumber, deps: Deps) -> Response:
    """The file a version was deployed from, byte for byte."""
    xml = deps.definitions.xml(process_id, version)
    if xml is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            missing_version(process_id, version,
                                             deps.definitions.versions(process_id)))
    return Response(xml, media_type="application/xml")
