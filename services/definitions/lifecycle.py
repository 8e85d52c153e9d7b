"""The definition lifecycle's rules (docs/people.md, "Definition lifecycle"): which transitions
exist, which role each needs, who may not take them; and the audit record of a transition.

Pure: no database, no Kafka. `transitions.py` applies these rules under a row lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from laneway.records import Event, Principal, Record, RecordKind


class State(StrEnum):
    """Where a definition version is in its lifecycle."""

    DRAFT = "DRAFT"
    REVIEW = "REVIEW"
    APPROVED = "APPROVED"
    AUTHORIZED = "AUTHORIZED"
    RETIRED = "RETIRED"


PUBLISHED = frozenset({State.AUTHORIZED, State.RETIRED})
"""The states whose versions are on the `definitions` topic (the only ones the engine sees)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One allowed transition: the roles that may take it (or `admin`), and whether the
    version's author is refused (the four-eyes steps)."""

    roles: tuple[str, ...]
    not_the_author: bool = False


RULES: Mapping[tuple[State, State], Rule] = {
    (State.DRAFT, State.REVIEW): Rule(("modeler",)),
    (State.REVIEW, State.DRAFT): Rule(("modeler", "reviewer")),
    (State.REVIEW, State.APPROVED): Rule(("reviewer",), not_the_author=True),
    (State.APPROVED, State.AUTHORIZED): Rule(("authorizer",), not_the_author=True),
    (State.APPROVED, State.DRAFT): Rule(("authorizer",)),
    (State.AUTHORIZED, State.RETIRED): Rule(("authorizer",)),
}


class TransitionRefused(Exception):
    """A transition that may not be taken; `status` is the HTTP answer (403, 409, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def allowed_from(state: State) -> list[State]:
    """The states a version in `state` may move to."""
    return [to for (frm, to) in RULES if frm is state]


def check(current: State, to: State, principal: Principal, author_id: str,
          personas_given: bool) -> Rule:
    """The rule of `current` → `to` if `principal` may take it; raises TransitionRefused."""
    rule = RULES.get((current, to))
    if rule is None:
        allowed = ", ".join(allowed_from(current)) or "none (it is final)"
        raise TransitionRefused(409, f"Expected a transition from {current} to one of: "
                                     f"{allowed}; but got {current} -> {to}")
    if not principal.has_role(*rule.roles):
        raise TransitionRefused(403, f"Expected the role {' or '.join(rule.roles)} (or admin) "
                                     f"for {current} -> {to}, but '{principal.id}' has roles "
                                     f"{list(principal.roles)}")
    if rule.not_the_author and principal.id == author_id:
        raise TransitionRefused(403, f"Expected someone other than the author for {current} "
                                     f"-> {to}, but '{principal.id}' deployed this version "
                                     "(four eyes: another person must approve and authorize)")
    if personas_given and to is not State.APPROVED:
        raise TransitionRefused(422, f"Expected `personas` only on the transition to "
                                     f"APPROVED, but got them on {current} -> {to}")
    return rule


def audit_instance_id(process_id: str, version: int) -> str:
    """The audit log's 'instance' of a definition version: its transitions chain there, and
    `GET /api/instances/{id}/history` shows them."""
    return f"definition:{process_id}:{version}"


def transition_record(process_id: str, version: int, seq: int, frm: State | None, to: State,
                      principal: Principal, comment: str | None, at_ms: int) -> Record:
    """The DEFINITION_TRANSITIONED event for the `events` topic (the deploy: seq 0, from None
    to DRAFT). The record id is derived from the step, so sending it again (a retry, the
    start-up repair) is one audit row."""
    instance_id = audit_instance_id(process_id, version)
    value: dict[str, object] = {"processId": process_id, "version": version,
                                "from": frm.value if frm is not None else None,
                                "to": to.value, "comment": comment}
    return Record(record_id=f"{instance_id}:{seq}", kind=RecordKind.EVENT,
                  intent=Event.DEFINITION_TRANSITIONED.value, instance_id=instance_id,
                  timestamp=at_ms, value=value, element_id=process_id,
                  element_type="definition", principal=principal)
