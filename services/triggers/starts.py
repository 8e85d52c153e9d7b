"""Turning items into START_INSTANCE commands: the one way the scheduler and the webhook
route start instances.

The instance id is derived from (schedule, dedup key) (`laneway.triggers.instance_id`), so an
item seen twice — a crash between the starts and the cursor's save, two replicas, a webhook
delivered again — gives the same id, and the engine refuses the second START_INSTANCE
(`ALREADY_EXISTS`, also after the instance ended). The principal is the agent
`trigger:<type>:<schedule id>`; the command's `trigger` value says which item started it,
and the audit log keeps the command.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from laneway.jsonb import unstorable
from laneway.limits import TooLarge
from laneway.publisher import Publisher
from laneway.records import Command, Principal, PrincipalKind, Record, command
from laneway.telemetry import instance_span, trace_headers, tracing
from laneway.triggers import MAX_DEDUP_KEY, TriggerItem, instance_id
from services.triggers.store import Row

MAX_SUMMARY_CHARS = 2000


def principal_of(row: Row) -> Principal:
    """Who starts the schedule's instances."""
    return Principal(PrincipalKind.AGENT, f"trigger:{row.type}:{row.id}")


@dataclass(frozen=True, slots=True)
class Planned:
    """An item on its way: the command to send, or why none can be sent."""

    item: TriggerItem
    instance_id: str
    record: Record | None
    refused: str | None

    def fire(self, requested_by: str | None = None) -> dict[str, Any]:
        """The fires row."""
        return {"dedupKey": self.item.dedup_key, "instanceId": self.instance_id,
                "summary": small(self.item.summary), "requestedBy": requested_by,
                "refused": self.refused}


def small(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary if it is small and storable, else a note saying it was left out."""
    if unstorable(dict(summary)) is not None:
        return {"note": "the item's summary could not be stored"}
    text = json.dumps(dict(summary), default=str)
    if len(text) > MAX_SUMMARY_CHARS:
        return {"note": f"the item's summary was {len(text)} characters, over "
                        f"{MAX_SUMMARY_CHARS}"}
    return dict(json.loads(text))


def check_key(key: object) -> str | None:
    """Why a dedup key cannot be used, or None."""
    if not isinstance(key, str) or not key:
        return "Expected a dedup key that is a non-empty string"
    if len(key) > MAX_DEDUP_KEY:
        return f"Expected a dedup key of at most {MAX_DEDUP_KEY} characters, but it has " \
               f"{len(key)}"
    if "\x00" in key:
        return "Expected a dedup key without U+0000"
    return None


def plan(row: Row, item: TriggerItem, publisher: Publisher, now_ms: int,
         requested_by: str | None = None) -> Planned:
    """The START_INSTANCE for `item`, or the reason it cannot be sent (it is then recorded as
    a refused fire, so it is seen and never retried forever)."""
    iid = instance_id(row.id, item.dedup_key)
    variables = dict(item.variables)
    reason = unstorable(variables)
    if reason is None:
        try:
            publisher.check_variables(variables)
        except TooLarge as exc:
            reason = str(exc)
    if reason is not None:
        return Planned(item, iid, None, f"Expected variables a start can carry, but {reason}")
    trigger: dict[str, Any] = {"schedule": row.id, "type": row.type,
                               "dedupKey": item.dedup_key, "item": small(item.summary)}
    if requested_by is not None:
        trigger["requestedBy"] = requested_by
    value = {"processId": row.process_id, "version": row.version,
             "startEventId": row.start_event_id, "variables": variables, "trigger": trigger}
    record = command(Command.START_INSTANCE, iid, value,
                     record_id=str(uuid.uuid5(uuid.UUID(iid), "start")),
                     timestamp=now_ms, principal=principal_of(row))
    return Planned(item, iid, record, None)


def _trigger_attributes(record: Record) -> dict[str, str]:
    trigger = record.value.get("trigger")
    if not isinstance(trigger, Mapping):
        return {}
    return {"laneway.trigger.schedule": str(trigger.get("schedule", "")),
            "laneway.trigger.type": str(trigger.get("type", ""))}


def send(publisher: Publisher, planned: Sequence[Planned]) -> None:
    """Produce the commands and wait until Kafka acknowledged every one (PublishError when it
    did not: nothing is recorded, the items come again)."""
    records = [p.record for p in planned if p.record is not None]
    if not records:
        return
    if not tracing():
        publisher.send_commands(records)
        return
    # each start is the first span of its instance's trace (an empty parent: no start is
    # another's child), open until Kafka has it; its record carries it
    with ExitStack() as spans:
        headers = [trace_headers(spans.enter_context(instance_span(
            "laneway.trigger.start", r.instance_id, parent=Context(), kind=SpanKind.PRODUCER,
            attributes=_trigger_attributes(r))))
            for r in records]
        publisher.send_commands(records, headers=headers)
