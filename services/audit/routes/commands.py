"""What the engine answered one command: `GET /api/instances/{id}/commands/{commandId}`.

An operation's route (cancel, set variables, modify, migrate: the definitions service) answers
202 with the command's record id; the engine applies the command or refuses it with a
REJECTION record. This route reads the instance's audit log for the command's first record,
so a client (the console) can show the engine's answer beside the control that sent it,
polling until it is there. Roles as the history's (`auditor` or `operator`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from laneway.auth.http import require_role
from services.audit import queries
from services.audit.deps import Deps

__all__ = ["CommandOutcome", "router"]

router = APIRouter(prefix="/api/instances", tags=["audit"],
                   dependencies=[Depends(require_role("auditor", "operator"))])


class CommandOutcome(BaseModel):
    """The engine's answer to a command, as far as the audit log has it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    instance_id: str = Field(description="The instance.")
    command_id: str = Field(description="The command's record id (the operation's answer).")
    state: Literal["PENDING", "DONE", "REFUSED"] = Field(
        description="PENDING: no record of the command yet (the engine has not processed it, "
                    "or the audit sink has not written it); DONE: the engine applied it (its "
                    "first event is `intent`); REFUSED: a rejection, `reason` says why.")
    intent: str | None = Field(default=None, description="The first event, or the refused "
                                                         "command.")
    seq: int | None = Field(default=None, description="Its position in the instance's log.")
    rejection_type: str | None = Field(default=None, description="REFUSED: the rejection "
                                                                 "type.")
    reason: str | None = Field(default=None, description="REFUSED: why.")


@router.get("/{instance_id}/commands/{command_id}",
            summary="What the engine answered a command",
            responses={404: {"description": "No record or projection of the instance."}})
def get_command(
    instance_id: str,
    # a command id is a UUID (services/definitions/routes/_operator.py); a dot would make
    # it match the records of another command's follow-ups
    command_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="The `commandId` an operation answered.")],
    deps: Deps,
) -> CommandOutcome:
    """PENDING, DONE or REFUSED with the rejection's type and reason."""
    with deps.pool.connection() as conn:
        answer = queries.command_answer(conn, instance_id, command_id)
        if answer is None and not queries.known(conn, instance_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                "Expected an instance the audit service has seen, but there "
                                "is none with this id")
    if answer is None:
        return CommandOutcome(instance_id=instance_id, command_id=command_id, state="PENDING")
    refused = answer.kind == "REJECTION"
    return CommandOutcome(instance_id=instance_id, command_id=command_id,
                          state="REFUSED" if refused else "DONE", intent=answer.intent,
                          seq=answer.seq,
                          rejection_type=answer.rejection_type if refused else None,
                          reason=answer.reason if refused else None)
