"""Records: the commands that go into the engine and the events and rejections that come out.

Every record has the envelope of ARCHITECTURE.md. `token_id` is the key of the element instance
the record is about and `scope_id` the key of its flow scope; both are numbered per instance
from the command that created them, so processing the same commands gives the same records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laneway.records._intents import Command, RecordKind
from laneway.records._principal import SYSTEM, Principal


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
