"""An operator's operations on running instances (docs/instance-operations.md): set
variables, modify (activate, terminate, move), migrate one instance, and migration batches
with their progress.

Each route checks what it can here (the body, the instance is known, the target version is
AUTHORIZED) and answers 4xx; what only the engine can check (a scope that ended meanwhile, an
element that maps to nothing) it refuses with a REJECTION record whose reason the instance's
history shows. Every command carries the operator, and so does every event it causes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command
from laneway.shared_reads import OwnerTableMissing
from services.definitions.batches import MAX_BATCH
from services.definitions.deps import Deps, Operator
from services.definitions.lifecycle import State
from services.definitions.models import (
    Detail,
    MigrateInstance,
    MigrationBatch,
    MigrationItem,
    MigrationProgress,
    ModifyInstance,
    OperationSent,
    SetVariables,
)
from services.definitions.routes._operator import send_to_instance, shown

_log = logging.getLogger(__name__)

instances = APIRouter(prefix="/api/instances", tags=["instances"], dependencies=TOKEN_REQUIRED)
migrations = APIRouter(prefix="/api/migrations", tags=["migrations"],
                       dependencies=TOKEN_REQUIRED)

_SENT: dict[int | str, dict[str, Any]] = {
         404: {"model": Detail, "description": "No such instance."},
         409: {"model": Detail, "description": "The target version is not AUTHORIZED."},
         413: {"model": Detail, "description": "Variables over the size limit."},
         503: {"model": Detail, "description": "Kafka did not acknowledge in time, or the "
                                              "audit service's instance projection is not "
                                              "there yet."}}


def _unavailable(exc: OwnerTableMissing) -> HTTPException:
    _log.error("operation: %s", exc)
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         "Expected the instances the audit service projects, but it has not "
                         "started yet. Retry shortly.", headers={"Retry-After": "5"})


@instances.post("/{instance_id}/variables", status_code=status.HTTP_202_ACCEPTED,
                summary="Set variables of a running instance",
                description="Produces SET_VARIABLES: in the process instance, or in the scope "
                            "of a live element instance (`scopeKey`). The engine refuses an "
                            "unknown scope or an ended instance (see its history).",
                responses=_SENT)
def set_variables(instance_id: str, body: SetVariables, deps: Deps,
                  principal: Operator) -> OperationSent:
    """Set variables (role operator)."""
    deps.publisher.check_variables(body.variables)
    value: dict[str, Any] = {"variables": body.variables, "local": body.local}
    if body.scope_key is not None:
        value["scopeKey"] = body.scope_key
    cid = send_to_instance(deps, instance_id, Command.SET_VARIABLES, value, principal)
    return OperationSent(instance_id=instance_id, command_id=cid)


@instances.post("/{instance_id}/modification", status_code=status.HTTP_202_ACCEPTED,
                summary="Modify a running instance",
                description="Produces MODIFY_INSTANCE with the instructions (ACTIVATE an "
                            "element, TERMINATE an element instance, MOVE a token). The engine "
                            "applies all of them or none: a refusal names every instruction "
                            "that does not apply (see the instance's history).",
                responses=_SENT)
def modify_instance(instance_id: str, body: ModifyInstance, deps: Deps,
                    principal: Operator) -> OperationSent:
    """Modify an instance (role operator)."""
    instructions = [i.model_dump(by_alias=True, exclude_none=True) for i in body.instructions]
    for i in instructions:
        deps.publisher.check_variables(i.get("variables"))
    cid = send_to_instance(deps, instance_id, Command.MODIFY_INSTANCE,
                           {"instructions": instructions}, principal)
    return OperationSent(instance_id=instance_id, command_id=cid)


@instances.post("/{instance_id}/migration", status_code=status.HTTP_202_ACCEPTED,
                summary="Migrate a running instance to another version",
                description="Checks that the target version of the instance's process is "
                            "AUTHORIZED, then produces MIGRATE_INSTANCE. The engine refuses, "
                            "changing nothing, when an active element maps to no element of "
                            "the same kind and scope (see the instance's history).",
                responses=_SENT)
def migrate_instance(instance_id: str, body: MigrateInstance, deps: Deps,
                     principal: Operator) -> OperationSent:
    """Migrate one instance (role operator)."""
    try:
        described = deps.instances.describe(instance_id)
    except OwnerTableMissing as exc:
        raise _unavailable(exc) from exc
    if described is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an instance '{shown(instance_id)}', but there is none")
    _authorized_target(deps, described[0], body.target_version)
    cid = send_to_instance(deps, instance_id, Command.MIGRATE_INSTANCE,
                           {"targetVersion": body.target_version, "mappings": body.mappings},
                           principal)
    return OperationSent(instance_id=instance_id, command_id=cid)


def _authorized_target(deps: Deps, process_id: str, version: int) -> None:
    states = deps.definitions.states(process_id)
    if version not in states:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected version {version} of process '{shown(process_id)}', but "
                            f"it has {sorted(states) or 'none'}")
    if states[version] != State.AUTHORIZED:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Expected version {version} of process '{shown(process_id)}' to be "
                            f"AUTHORIZED, but it is {states[version]}")


@migrations.post("", status_code=status.HTTP_201_CREATED,
                 summary="Migrate many running instances",
                 description="The instances named (`instanceIds`), or every running instance "
                             "of the process (of `sourceVersion` when given), at most "
                             f"{MAX_BATCH}: one MIGRATE_INSTANCE each. Follow the batch with "
                             "GET /api/migrations/{batchId}.",
                 responses={**_SENT, 422: {"description": "A malformed body, or more than "
                                                          f"{MAX_BATCH} running instances "
                                                          "match."}})
def create_batch(body: MigrationBatch, deps: Deps, principal: Operator) -> MigrationProgress:
    """Start a migration batch (role operator)."""
    _authorized_target(deps, body.process_id, body.target_version)
    refused: dict[str, str] = {}
    try:
        if body.instance_ids is not None:
            ids = list(dict.fromkeys(body.instance_ids))
            for iid in ids:
                found = deps.instances.describe(iid)
                if found is None or found[0] != body.process_id:
                    refused[iid] = (f"Expected an instance of process '{shown(body.process_id)}'"
                                    f", but '{shown(iid)}' is none")
        else:
            ids = deps.instances.running(body.process_id, body.source_version, MAX_BATCH + 1)
    except OwnerTableMissing as exc:
        raise _unavailable(exc) from exc
    if len(ids) > MAX_BATCH:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Expected at most {MAX_BATCH} running instances, but more match: "
                            "name sourceVersion or the instances")
    batch_id = deps.batches.create(body.process_id, body.target_version, body.mappings, ids,
                                   refused, principal, deps.publisher, deps.clock_ms)
    progress = _progress(deps, batch_id)
    assert progress is not None
    return progress


@migrations.get("/{batch_id}", summary="A migration batch's progress",
                description="How many of the batch's instances were migrated, refused (with "
                            "each reason) or are still pending, from what the engine answered "
                            "(the audit log).",
                responses={404: {"model": Detail, "description": "No such batch."},
                           503: {"model": Detail, "description": "The audit log is not there "
                                                                 "yet."}})
def batch_progress(batch_id: str, deps: Deps, principal: Operator) -> MigrationProgress:
    """A batch's progress (role operator)."""
    progress = _progress(deps, batch_id)
    if progress is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected a migration batch '{shown(batch_id)}', but there is none")
    return progress


def _progress(deps: Deps, batch_id: str) -> MigrationProgress | None:
    try:
        p = deps.batches.progress(batch_id)
    except OwnerTableMissing as exc:
        raise _unavailable(exc) from exc
    if p is None:
        return None
    return MigrationProgress(
        batch_id=p.batch_id, process_id=p.process_id, target_version=p.target_version,
        total=len(p.items), done=p.count("DONE"), refused=p.count("REFUSED"),
        pending=p.count("PENDING", "SENT"),
        items=[MigrationItem(instance_id=i.instance_id, state=i.state,  # type: ignore[arg-type]
                             rejection_type=i.rejection_type, reason=i.reason)
               for i in p.items])
