"""An operator's command to one running instance: shared by cancelling an instance and
resolving one of its incidents, so both answer the same 404 and 503 for the same reasons."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import HTTPException, status
from opentelemetry.trace import SpanKind

from laneway.records import Command, Principal, command
from laneway.shared_reads import OwnerTableMissing
from laneway.telemetry import instance_span
from services.definitions.deps import Deps

_log = logging.getLogger(__name__)

_SHOWN = 80


def send_to_instance(deps: Deps, instance_id: str, intent: Command, value: dict[str, Any],
                     principal: Principal) -> str:
    """Produce `intent` keyed by `instance_id` once the audit's projection knows the instance:
    404 when it does not, 503 while the projection's table is not there yet. Returns the
    command's record id."""
    try:
        known = deps.instances.exists(instance_id)
    except OwnerTableMissing as exc:
        _log.error("%s %r: %s", intent.value, shown(instance_id), exc)  # names the table
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the instances the audit service projects, but it has not "
                            "started yet. Retry shortly.", headers={"Retry-After": "5"}) from exc
    if not known:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an instance '{shown(instance_id)}', but there is none")
    record_id = str(uuid.uuid4())
    with instance_span(f"laneway.api.{intent.value.lower()}", instance_id,
                       kind=SpanKind.SERVER):
        deps.publisher.send_command(command(
            intent, instance_id, value, record_id=record_id, timestamp=deps.clock_ms(),
            principal=principal))
    return record_id


def shown(text: str) -> str:
    """`text` from the path as an answer or a log line quotes it: a long one is cut, so a
    client cannot make either as large as the URL the edge lets through."""
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"
