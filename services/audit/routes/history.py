"""An instance's audit log: `GET /api/instances/{id}/history`, `/verify` and `/replay`.

They read `audit_log` through the service's pool (`services.audit.deps.Deps`). Every route
needs a bearer token with the role `auditor` or `operator` (or `admin`), verified by
`app.state.verifier` (a `laneway.auth.TokenVerifier`). The routes are plain `def`s: FastAPI
runs them in its thread pool, which suits psycopg's blocking pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from laneway.auth.http import require_role
from laneway.engine.appliers import UnknownVersionError
from laneway.web.bounds import MAX_INT
from services.audit import queries
from services.audit.deps import Deps

__all__ = ["HistoryPage", "ReplayResult", "VerifyResult", "router"]

# Reading an instance's history is the auditor's job (docs/people.md, "Roles"); operators, who
# resolve incidents and see every task, need it to see what went wrong. `admin` holds every
# role. The principal is verified by `laneway.auth.http` against `app.state.verifier`.
router = APIRouter(prefix="/api/instances", tags=["audit"],
                   dependencies=[Depends(require_role("auditor", "operator"))])


class _ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PrincipalView(_ApiModel):
    """Who acted."""

    kind: str = Field(description="`human`, `agent` or `system`.")
    id: str = Field(description="The person's, agent's or system's id.")
    roles: list[str] = Field(description="The roles the principal acted with.")


class HistoryEvent(_ApiModel):
    """One record of an instance's history."""

    seq: int = Field(description="Position in the instance's log, from 1.")
    record_id: str = Field(description="The record's id.")
    time: str = Field(description="The record's timestamp, ISO 8601 UTC with milliseconds.")
    kind: str = Field(description="`EVENT` or `REJECTION`.")
    intent: str = Field(description="The event, or the refused command.")
    element_id: str = Field(description="The BPMN element ('' for none).")
    element_type: str = Field(description="The element's type.")
    principal: PrincipalView = Field(description="Who acted.")
    value: dict[str, Any] = Field(description="The record's value.")


class HistoryPage(_ApiModel):
    """A page of an instance's history, oldest first."""

    instance_id: str = Field(description="The instance.")
    events: list[HistoryEvent] = Field(description="At most `limit` records after `after`.")
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null when this page is not full.")


class VerifyResult(_ApiModel):
    """The check of an instance's hash chain."""

    instance_id: str = Field(description="The instance.")
    ok: bool = Field(description="Every row matches its hash and links to the one before, "
                                 "and the last row is the instance's signed head.")
    rows: int = Field(description="Rows read.")
    first_bad_seq: int | None = Field(description="The first seq that does not match.")
    reason: str | None = Field(description="What is wrong there.")
    check: str | None = Field(
        default=None,
        description="The check that failed: `sequence`, `instance`, `link`, `content` (the "
                    "chain) or `checkpoint`, `signature`, `cut`, `unanchored`, `head` (the "
                    "signed head); null when ok.")


class ReplayResult(_ApiModel):
    """An instance's state rebuilt from its log by the engine core's appliers."""

    instance_id: str = Field(description="The instance.")
    up_to: int = Field(description="The last seq applied.")
    verified: bool = Field(description="The rows replayed pass the hash-chain check (and, "
                                       "without `upTo`, end at the signed head).")
    state: dict[str, Any] = Field(description="`InstanceState.to_dict()` at that seq.")


def _no_log(instance_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND,
                         f"Expected audit records of instance '{instance_id}', but there are "
                         "none (records show here once the audit sink has written them)")


@router.get("/{instance_id}/history", summary="An instance's history with principals",
            responses={404: {"description": "No record of the instance."}})
def get_history(
    instance_id: str,
    deps: Deps,
    after: Annotated[int, Query(ge=0, le=MAX_INT,
                                description="Only records with a higher seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
) -> HistoryPage:
    """Every event and rejection of the instance in order, with who caused it."""
    with deps.pool.connection() as conn:
        entries = queries.history(conn, instance_id, after=after, limit=limit)
    if entries is None:
        raise _no_log(instance_id)
    events = [HistoryEvent(seq=e.seq, record_id=e.record_id, time=e.time, kind=e.kind,
                           intent=e.intent, element_id=e.element_id,
                           element_type=e.element_type,
                           principal=PrincipalView.model_validate(e.principal), value=e.value)
              for e in entries]
    return HistoryPage(instance_id=instance_id, events=events,
                       next_after=events[-1].seq if len(events) == limit else None)


@router.get("/{instance_id}/verify", summary="Check an instance's hash chain",
            responses={404: {"description": "No record of the instance."}})
def get_verify(instance_id: str, deps: Deps) -> VerifyResult:
    """200 with `ok` true, or false, the first seq that does not match and the check that
    failed (a cut tail and a recomputed chain fail against the signed head)."""
    with deps.pool.connection() as conn:
        result = queries.verify(conn, instance_id, deps.signer)
    if result is None:
        raise _no_log(instance_id)
    deps.metrics.verifications.labels("ok" if result.ok else "failed").inc()
    return VerifyResult(instance_id=instance_id, ok=result.ok, rows=result.rows,
                        first_bad_seq=result.first_bad_seq, reason=result.reason,
                        check=result.check)


@router.get("/{instance_id}/replay", summary="An instance's state rebuilt from its log",
            responses={404: {"description": "No record of the instance, or no state yet."},
                       409: {"description": "The log holds an event of an applier version "
                                            "this service does not have."}})
def get_replay(
    instance_id: str,
    deps: Deps,
    up_to: Annotated[int | None, Query(alias="upTo", ge=1, le=MAX_INT,
                                       description="Last seq to apply (default: all).")] = None,
) -> ReplayResult:
    """The engine's appliers run over the instance's events up to and including `upTo`."""
    try:
        with deps.pool.connection() as conn:
            result = queries.replay(conn, instance_id, up_to, deps.signer)
    except UnknownVersionError as exc:
        # the log is sound, but a newer engine wrote it: replaying with another version's
        # meaning would answer a wrong state
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Expected events this audit service can replay, but {exc}; "
                            "replay it with an audit service of that engine's release") from exc
    if result is None:
        raise _no_log(instance_id)
    if result.state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected instance '{instance_id}' to exist at seq {result.seq}, "
                            "but no event up to there created it")
    return ReplayResult(instance_id=instance_id, up_to=result.seq,
                        verified=result.verification.ok, state=result.state)
