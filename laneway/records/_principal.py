"""The principal: who acts behind a command (a person, an agent or the engine itself)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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

    def ref(self) -> dict[str, str]:
        """`{kind, id}`: who acted, without the roles and claims that proved it. What a
        projection shows to others (the worklist's `completedBy`), so a token's claims never
        reach everyone in a lane."""
        return {"kind": self.kind.value, "id": self.id}

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
"""The engine's own principal (timers, follow-ups)."""

ANONYMOUS_ID = "anonymous"
"""The id of whoever submits a public form without a token (`human`): many people under one
id, so it never counts as taking part in an instance."""
