"""Deploy process definitions, list them, export their XML."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.bpmn import MAX_BYTES
from laneway.diagram_check import in_order
from laneway.problems import Problem
from services.definitions.deps import Deps, Modeler, ServiceDeps, UploadedDiagram, VersionNumber
from services.definitions.lifecycle import State as LifecycleState
from services.definitions.models import (
    CheckProblem,
    CheckResult,
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
        raise _all_checks_busy(deps)
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


@router.post(
    "/check",
    summary="Check a BPMN file without deploying it",
    description="The problems a deploy of the file would be refused for, and the warnings "
                "`laneway validate` prints (loops that never wait, self-calling processes), "
                "with the same messages as `laneway validate`; stores nothing and sends "
                "nothing. `ok` is true when a deploy would accept the file. Role `modeler`; "
                "the same bodies and size limit as the deploy.",
    responses={
        413: {"model": Detail, "description": "The body is over the size limit (20 MiB "
                                              "unless set)."},
        415: {"model": Detail, "description": "Not XML or a form."},
        503: {"model": Detail, "description": "Every deploy check busy: retry."},
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
def check_definitions(upload: UploadedDiagram, deps: Deps, _principal: Modeler) -> CheckResult:
    """Check an uploaded BPMN file as a deploy would, storing nothing."""
    # the check holds the tree as a deploy does: it takes one of the deploys' checks
    if not deps.checking.acquire(timeout=deps.deploy_wait_s):
        raise _all_checks_busy(deps)
    try:
        checked = deps.deployer.problems(upload.data, upload.file_name)
    finally:
        deps.checking.release()
    return CheckResult(ok=not checked.problems, problems=[
        *(_found(p, "error") for p in in_order(checked.problems)),
        *(_found(p, "warning") for p in in_order(checked.warnings))])


def _found(found: Problem, severity: Literal["error", "warning"]) -> CheckProblem:
    return CheckProblem(element=found.element_id or None, line=found.line or None,
                        message=found.message, severity=severity)


def _all_checks_busy(deps: ServiceDeps) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         f"Expected a free deploy check, but {deps.deploy_checks} are under "
                         "way (LANEWAY_DEPLOY_CHECKS); retry", headers={"Retry-After": "1"})


@router.get("", summary="List deployed process versions")
def list_definitions(
    deps: Deps,
    process_id: Annotated[str | None, Query(alias="processId",
                                            description="Only this process id.")] = None,
) -> list[DefinitionSummary]:
    """Every deployed version, latest deploy first."""
    return [DefinitionSummary(process_id=s.process_id, version=s.version, name=s.name,
                              deployed_at=s.deployed_at, digest=s.digest,
                              state=LifecycleState(s.state), author=s.author)
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
