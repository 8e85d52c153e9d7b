"""The definition lifecycle: transitions of a version and its history (docs/people.md)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from laneway.auth.http import TOKEN_REQUIRED
from services.definitions.deps import CurrentPrincipal, Deps, VersionNumber
from services.definitions.models import (
    Detail,
    LifecycleHistory,
    LifecycleStep,
    TransitionRequest,
    VersionState,
)
from services.definitions.store import missing_version

router = APIRouter(prefix="/api/definitions", tags=["lifecycle"], dependencies=TOKEN_REQUIRED)


@router.post(
    "/{process_id}/versions/{version}/transitions",
    summary="Move a version through its lifecycle",
    description="DRAFT → REVIEW (modeler) → APPROVED (reviewer, not the author; `personas` "
                "may map lanes to personas here) → AUTHORIZED (authorizer, not the author; "
                "published to the engine) → RETIRED (authorizer; the engine refuses new "
                "starts). REVIEW → DRAFT and APPROVED → DRAFT send a version back. Repeating "
                "the transition that brought the version to its state, as the same principal, "
                "answers 200 with `applied` false (safe to retry after a 503).",
    responses={
        403: {"model": Detail, "description": "The role is missing, or the author tries to "
                                              "approve or authorize their own version."},
        404: {"model": Detail, "description": "No such process version."},
        409: {"model": Detail, "description": "Not a transition from the current state (the "
                                              "allowed ones are named), or lanes with user "
                                              "tasks lack a persona (named)."},
        422: {"model": Detail, "description": "`personas` names unknown lanes, or comes on "
                                              "another transition than to APPROVED."},
        503: {"model": Detail, "description": "Applied but not acknowledged by Kafka: retry "
                                              "the same request."},
    },
)
def transition(process_id: str, version: VersionNumber, body: TransitionRequest, deps: Deps,
               principal: CurrentPrincipal) -> VersionState:
    """Apply one lifecycle transition."""
    outcome = deps.lifecycle.transition(process_id, version, body.to, principal,
                                        body.comment, body.personas)
    return VersionState(process_id=process_id, version=version, state=outcome.state,
                        personas=outcome.lane_personas, applied=outcome.applied)


@router.get(
    "/{process_id}/versions/{version}/history",
    summary="A version's deploy and transitions",
    responses={404: {"model": Detail, "description": "No such process version."}},
)
def history(process_id: str, version: VersionNumber, deps: Deps) -> LifecycleHistory:
    """The deploy first, then every transition with its principal, time and comment."""
    items = deps.lifecycle.history(process_id, version)
    if items is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            missing_version(process_id, version,
                                            deps.definitions.versions(process_id)))
    steps = [LifecycleStep.model_validate({
        "seq": i.seq, "from": i.from_state, "to": i.to_state,
        "principal": {k: i.principal.get(k) for k in ("kind", "id", "roles")},
        "comment": i.comment, "at": i.at}) for i in items]
    return LifecycleHistory(process_id=process_id, version=version, steps=steps)
