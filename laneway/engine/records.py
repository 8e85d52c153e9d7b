"""Records: the commands that go into the engine and the events and rejections that come out.

Every record has the envelope of ARCHITECTURE.md. `token_id` is the key of the element instance
the record is about and `scope_id` the key of its flow scope; both are numbered per instance
from the command that created them, so processing the same commands gives the same records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RecordKind(StrEnum):
    """What a record is."""

    COMMAND = "COMMAND"
    EVENT = "EVENT"
    REJECTION = "REJECTION"


class PrincipalKind(StrEnum):
    """Who acts: a person, an agent (connector, trigger, LLM) or the engine itself."""

    HUMAN = "human"
    AGENT = "agent"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified actor behind a command, recorded on every event it causes."""

    kind: PrincipalKind
    id: str
    roles: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"kind": self.kind.value, "id": self.id, "roles": list(self.roles),
                "claims": dict(self.claims)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Principal:
        """Inverse of `to_dict`."""
        return Principal(PrincipalKind(data["kind"]), str(data["id"]),
                         tuple(data.get("roles", ())), dict(data.get("claims", {})))

    @property
    def personas(self) -> tuple[str, ...]:
        """The personas the verified claims grant (the `personas` claim)."""
        return _strings(self.claims.get("personas"))

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups the verified claims grant (the `groups` claim)."""
        return _strings(self.claims.get("groups"))

    def holds_persona(self, persona: str) -> bool:
        """Whether one of the principal's personas is `persona` (names compare normalised)."""
        wanted = persona_key(persona)
        return any(persona_key(p) == wanted for p in self.personas)

    def group_keys(self) -> frozenset[str]:
        """What candidate groups the principal is in, normalised (`persona_key`): its groups,
        roles and personas, since identity providers carry membership in any of them."""
        return frozenset(persona_key(n) for n in (*self.groups, *self.roles, *self.personas))

    def has_role(self, *roles: str) -> bool:
        """Whether the principal holds one of `roles` (or `admin`)."""
        return any(r in self.roles for r in (*roles, "admin"))


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def persona_key(name: str) -> str:
    """A persona name normalised for comparison: `Case Worker`, `case-worker` and
    `CASE_WORKER` are one persona (modelers and identity providers spell them differently)."""
    return _NOT_ALNUM.sub("-", name.casefold()).strip("-")


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


SYSTEM = Principal(PrincipalKind.SYSTEM, "engine")


class Command(StrEnum):
    """Requests to the engine (imperative)."""

    START_INSTANCE = "START_INSTANCE"
    CANCEL_INSTANCE = "CANCEL_INSTANCE"
    COMPLETE_JOB = "COMPLETE_JOB"
    FAIL_JOB = "FAIL_JOB"
    THROW_ERROR = "THROW_ERROR"
    COMPLETE_USER_TASK = "COMPLETE_USER_TASK"
    SUBMIT_DECISION = "SUBMIT_DECISION"
    TRIGGER_TIMER = "TRIGGER_TIMER"
    PUBLISH_MESSAGE = "PUBLISH_MESSAGE"
    OPEN_MESSAGE_SUBSCRIPTION = "OPEN_MESSAGE_SUBSCRIPTION"
    CLOSE_MESSAGE_SUBSCRIPTION = "CLOSE_MESSAGE_SUBSCRIPTION"
    CORRELATE_MESSAGE = "CORRELATE_MESSAGE"
    RETRACT_CORRELATION = "RETRACT_CORRELATION"
    BROADCAST_SIGNAL = "BROADCAST_SIGNAL"
    TRIGGER_SIGNAL = "TRIGGER_SIGNAL"
    COMPLETE_CALL_ACTIVITY = "COMPLETE_CALL_ACTIVITY"
    THROW_ERROR_TO_PARENT = "THROW_ERROR_TO_PARENT"
    ERROR_NOT_CAUGHT = "ERROR_NOT_CAUGHT"
    ESCALATE_TO_PARENT = "ESCALATE_TO_PARENT"
    RESOLVE_INCIDENT = "RESOLVE_INCIDENT"
    CLAIM_USER_TASK = "CLAIM_USER_TASK"
    UNCLAIM_USER_TASK = "UNCLAIM_USER_TASK"
    ESCALATE_USER_TASK = "ESCALATE_USER_TASK"


class Event(StrEnum):
    """What happened (past tense)."""

    ELEMENT_ACTIVATED = "ELEMENT_ACTIVATED"
    ELEMENT_COMPLETED = "ELEMENT_COMPLETED"
    ELEMENT_TERMINATED = "ELEMENT_TERMINATED"
    SEQUENCE_FLOW_TAKEN = "SEQUENCE_FLOW_TAKEN"
    JOIN_CONSUMED = "JOIN_CONSUMED"
    VARIABLES_UPDATED = "VARIABLES_UPDATED"
    GATEWAY_DECIDED = "GATEWAY_DECIDED"
    JOB_CREATED = "JOB_CREATED"
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_FAILED = "JOB_FAILED"
    JOB_ERROR_THROWN = "JOB_ERROR_THROWN"
    JOB_CANCELED = "JOB_CANCELED"
    USER_TASK_CREATED = "USER_TASK_CREATED"
    USER_TASK_COMPLETED = "USER_TASK_COMPLETED"
    USER_TASK_CANCELED = "USER_TASK_CANCELED"
    USER_TASK_CLAIMED = "USER_TASK_CLAIMED"
    USER_TASK_UNCLAIMED = "USER_TASK_UNCLAIMED"
    USER_TASK_ESCALATED = "USER_TASK_ESCALATED"
    TIMER_CREATED = "TIMER_CREATED"
    TIMER_TRIGGERED = "TIMER_TRIGGERED"
    TIMER_CANCELED = "TIMER_CANCELED"
    MESSAGE_SUBSCRIPTION_CREATED = "MESSAGE_SUBSCRIPTION_CREATED"
    MESSAGE_SUBSCRIPTION_CORRELATED = "MESSAGE_SUBSCRIPTION_CORRELATED"
    MESSAGE_SUBSCRIPTION_DELETED = "MESSAGE_SUBSCRIPTION_DELETED"
    MESSAGE_PUBLISHED = "MESSAGE_PUBLISHED"
    MESSAGE_CORRELATED = "MESSAGE_CORRELATED"
    MESSAGE_CORRELATION_RETRACTED = "MESSAGE_CORRELATION_RETRACTED"
    MESSAGE_EXPIRED = "MESSAGE_EXPIRED"
    PROCESS_MESSAGE_SUBSCRIPTION_OPENED = "PROCESS_MESSAGE_SUBSCRIPTION_OPENED"
    PROCESS_MESSAGE_SUBSCRIPTION_CLOSED = "PROCESS_MESSAGE_SUBSCRIPTION_CLOSED"
    SIGNAL_SUBSCRIPTION_CREATED = "SIGNAL_SUBSCRIPTION_CREATED"
    SIGNAL_SUBSCRIPTION_DELETED = "SIGNAL_SUBSCRIPTION_DELETED"
    SIGNAL_BROADCAST = "SIGNAL_BROADCAST"
    ERROR_THROWN = "ERROR_THROWN"
    ESCALATION_THROWN = "ESCALATION_THROWN"
    INCIDENT_CREATED = "INCIDENT_CREATED"
    INCIDENT_RESOLVED = "INCIDENT_RESOLVED"
    # not the engine's: the definitions service's lifecycle steps, for the audit log
    DEFINITION_TRANSITIONED = "DEFINITION_TRANSITIONED"


@dataclass(frozen=True, slots=True)
class Record:
    """One command, event or rejection, with the envelope every topic uses.

    `value` is JSON-like; for a rejection it holds `reason` and `rejectionType`.
    """

    record_id: str
    kind: RecordKind
    intent: str
    instance_id: str
    timestamp: int
    value: Mapping[str, Any] = field(default_factory=dict)
    element_id: str = ""
    element_type: str = ""
    token_id: int = 0
    scope_id: int = 0
    principal: Principal = SYSTEM

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stable across runs."""
        return {
            "recordId": self.record_id,
            "kind": self.kind.value,
            "intent": self.intent,
            "instanceId": self.instance_id,
            "timestamp": self.timestamp,
            "elementId": self.element_id,
            "elementType": self.element_type,
            "tokenId": self.token_id,
            "scopeId": self.scope_id,
            "principal": self.principal.to_dict(),
            "value": self.value,
        }

    def to_json(self) -> str:
        """Compact JSON with sorted keys: equal records give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Record:
        """Inverse of `to_dict`."""
        return Record(
            record_id=data["recordId"],
            kind=RecordKind(data["kind"]),
            intent=data["intent"],
            instance_id=data["instanceId"],
            timestamp=int(data["timestamp"]),
            value=data.get("value", {}),
            element_id=data.get("elementId", ""),
            element_type=data.get("elementType", ""),
            token_id=int(data.get("tokenId", 0)),
            scope_id=int(data.get("scopeId", 0)),
            principal=Principal.from_dict(data["principal"]) if data.get("principal") else SYSTEM,
        )


def command(
    intent: Command,
    instance_id: str,
    value: Mapping[str, Any] | None = None,
    *,
    record_id: str,
    timestamp: int,
    principal: Principal = SYSTEM,
) -> Record:
    """Build a command record."""
    return Record(record_id=record_id, kind=RecordKind.COMMAND, intent=intent.value,
                  instance_id=instance_id, timestamp=timestamp, value=dict(value or {}),
                  principal=principal)
