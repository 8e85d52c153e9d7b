"""User-task rules shared by the engine, the deploy checks and local drivers: which persona a
task asks for, its SLA, who may act on it, and the principal a local driver acts as.

A task's persona comes from its lanes, innermost first: at each lane the mapping set at review
(`persona:<laneId>` in the definition record's metadata) wins over the lane's own
`laneway:persona`; the first lane that has either decides. A task in no lane, or in lanes
without any, asks for no persona.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

from laneway.engine.state import UserTask
from laneway.model import FlowNode, Lane
from laneway.records import Principal, PrincipalKind, persona_key

PERSONA_PREFIX = "persona:"
SLA_ATTRIBUTE = "laneway:slaMinutes"


def sla_minutes(raw: str | None) -> float | None:
    """A task's SLA in minutes from its `laneway:slaMinutes` as written (`FlowNode.sla_minutes`),
    None when absent; ValueError when it is not a positive number (refused at deploy, so the
    engine never meets one)."""
    if raw is None or not raw.strip():
        return None
    try:
        minutes = float(raw.strip())
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"Expected {SLA_ATTRIBUTE} to be a positive number of minutes, but "
                         f"got '{raw}'")
    return minutes


def personas_from_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The `{laneId: persona}` mapping in a definition record's metadata (`persona:<laneId>`
    keys; blank personas are left out, so they do not hide a lane's own attribute)."""
    return {
        key[len(PERSONA_PREFIX):]: value.strip()
        for key, value in metadata.items()
        if key.startswith(PERSONA_PREFIX) and len(key) > len(PERSONA_PREFIX) and value.strip()
    }


def node_lane(nodes: Mapping[str, FlowNode], node: FlowNode) -> str | None:
    """The lane a node is in: its own, else that of the nearest enclosing subprocess (a
    modeler may list only the subprocess in the lane)."""
    seen: set[str] = set()
    current: FlowNode | None = node
    while current is not None and current.id not in seen:
        if current.lane:
            return current.lane
        seen.add(current.id)
        current = nodes.get(current.parent) if current.parent else None
    return None


def lane_chain(lanes: Mapping[str, Lane], lane_id: str | None) -> Iterator[Lane]:
    """The lane and the lanes it is nested in, innermost first."""
    seen: set[str] = set()
    while lane_id and lane_id not in seen:
        seen.add(lane_id)
        lane = lanes.get(lane_id)
        if lane is None:
            return
        yield lane
        lane_id = lane.parent


def resolve_persona(
    lanes: Mapping[str, Lane], lane_id: str | None, mapping: Mapping[str, str]
) -> str | None:
    """The persona a node in lane `lane_id` asks for, or None."""
    for lane in lane_chain(lanes, lane_id):
        persona = mapping.get(lane.id) or (lane.persona or "").strip()
        if persona:
            return persona
    return None


def refusal(principal: Principal, task: UserTask) -> str | None:
    """Why `principal` may not act on `task` as a person (persona, then candidates), or None
    when it may. Ownership (claimed or assigned) is checked by each command."""
    if not task.persona and not task.candidate_users and not task.candidate_groups:
        return None  # open to anyone: no need to build the task's description
    return person_refusal(principal, task.persona, task.candidate_users, task.candidate_groups,
                          f"user task '{task.element_id}' ({task.key})")


def person_refusal(principal: Principal, persona: str | None, candidate_users: Sequence[str],
                   candidate_groups: Sequence[str], what: str) -> str | None:
    """Why `principal` is not one of the people of a task (`what`) with this persona and these
    candidates, or None when it is; the worklist asks the same of its projected tasks."""
    who = f"{principal.kind.value} '{principal.id}'"
    if persona and not principal.holds_persona(persona):
        held = ", ".join(principal.personas) or "none"
        return (f"Expected {who} to hold the persona '{persona}' of {what}, but its "
                f"personas are: {held}; act with a token that grants '{persona}'")
    if candidate_users or candidate_groups:
        if principal.id in candidate_users:
            return None
        if {persona_key(g) for g in candidate_groups} & principal.group_keys():
            return None
        wanted = [f"user '{u}'" for u in candidate_users]
        wanted += [f"group '{g}'" for g in candidate_groups]
        return (f"Expected {who} to be one of the candidates of {what} ({', '.join(wanted)}), "
                "but it is none of them")
    return None


def fitting_principal(task: UserTask, default_id: str) -> Principal:
    """A person who may complete `task`: the owner's id (else the first candidate user, else
    `default_id`), the task's persona and candidate groups. For local drivers (`laneway run`,
    tests), which act for the people a deployed Laneway would ask."""
    person = task.owner or (task.candidate_users[0] if task.candidate_users and
                            not task.candidate_groups else default_id)
    claims: dict[str, list[str]] = {}
    if task.persona:
        claims["personas"] = [task.persona]
    if task.candidate_groups:
        claims["groups"] = list(task.candidate_groups)
    return Principal(PrincipalKind.HUMAN, person, (), claims)
