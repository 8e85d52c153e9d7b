"""Publish BPMN messages: `operator`, or a persona the message names in `laneway:publishers`
(`services.definitions.publishers`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status

from laneway.auth.http import TOKEN_REQUIRED
from laneway.records import Command, command
from services.definitions.deps import CurrentPrincipal, Deps
from services.definitions.models import Detail, PublishedMessage, PublishMessage

router = APIRouter(prefix="/api/messages", tags=["messages"], dependencies=TOKEN_REQUIRED)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Publish a message",
    description="Produces a PUBLISH_MESSAGE command to `messages`, keyed by the correlation "
                "key, so it meets the subscriptions waiting for it on one partition. The "
                "engine correlates it asynchronously; it waits for a subscription for its "
                "time to live (default one hour).",
    responses={403: {"model": Detail, "description": "Neither the role operator nor a "
                                                    "persona the message names as publisher."},
               413: {"model": Detail, "description": "Variables over the size limit."},
               422: {"description": "A malformed body, variables Avro cannot carry, or a "
                                    "time to live over the longest allowed."},
               503: {"model": Detail, "description": "Kafka did not acknowledge in time."}},
)
def publish_message(body: PublishMessage, deps: Deps,
                    principal: CurrentPrincipal) -> PublishedMessage:
    """Publish a message for correlation. A message overwrites the variables of the instance
    it meets, so it needs the role operator, or a persona that a running version of a
    diagram names in the message's `laneway:publishers`."""
    if not deps.message_publishers.may_publish(principal, body.name):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Expected the role operator, or a persona that an authorized diagram names in "
            f"laneway:publishers of the message {_quoted(body.name)}, but '{principal.id}' holds "
            f"{_held(principal.roles, principal.personas)}")
    ttl_s = deps.message_ttl.default_s if body.ttl_seconds is None else body.ttl_seconds
    if ttl_s > deps.message_ttl.max_s:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Expected ttlSeconds of at most {deps.message_ttl.max_s:g}, but got "
                            f"{ttl_s:g}")
    message_id = body.message_id or str(uuid.uuid4())
    record_id = str(uuid.uuid4())
    deps.publisher.send_command(command(
        Command.PUBLISH_MESSAGE,
        # a message belongs to no instance; the record id keeps the envelope's id unique
        record_id,
        {"name": body.name, "correlationKey": body.correlation_key,
         "variables": body.variables, "messageId": message_id,
         "ttl": round(ttl_s * 1000)},
        record_id=record_id, timestamp=deps.clock_ms(), principal=principal))
    deps.metrics.messages.inc()
    return PublishedMessage(message_id=message_id)


def _held(roles: tuple[str, ...], personas: tuple[str, ...]) -> str:
    parts = ([f"the roles {', '.join(roles)}"] if roles else []) + (
        [f"the personas {', '.join(personas)}"] if personas else [])
    return " and ".join(parts) or "neither roles nor personas"


def _quoted(name: str) -> str:
    # the name comes from the body: quoted, and not echoed whole if it is long
    return repr(name) if len(name) <= 80 else repr(name[:79]) + "…"
