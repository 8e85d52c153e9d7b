"""Work the engine hands out and waits on: jobs, user tasks; and incidents when it is stuck."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate, written_expression
from laneway.engine.state import ElementInstance
from laneway.engine.user_tasks import node_lane, resolve_persona, sla_minutes
from laneway.expr import ExpressionError
from laneway.model import FlowNode
from laneway.records import Event, IncidentType

DEFAULT_RETRIES = 3


def raise_incident(
    ctx: Processing,
    elem: ElementInstance,
    error_type: IncidentType,
    message: str,
    *,
    job_key: int = 0,
    stage: str = "activate",
) -> None:
    """Park the element with an incident; resolving it picks up again at `stage`."""
    key = ctx.new_key()
    ctx.write_element(Event.INCIDENT_CREATED, elem, {
        "key": key, "errorType": error_type.value, "message": message, "jobKey": job_key,
        "stage": stage,
    })


def element_context(ctx: Processing, node: FlowNode) -> dict[str, Any]:
    """What a handler of the element needs besides variables: its name, attribute bag, lane
    and persona (the review's mapping or the innermost lane's `laneway:persona`)."""
    proc = ctx.proc
    lane_id = node_lane(proc.process.nodes, node)
    lane = proc.lane(lane_id) if lane_id else None
    out: dict[str, Any] = {"elementName": node.name, "attributes": dict(node.attrs)}
    if lane is not None:
        out["lane"] = lane.name or lane.id
        out["laneId"] = lane.id
        out["persona"] = resolve_persona(proc.lanes, lane.id, proc.personas)
    return out


def create_job(
    ctx: Processing,
    elem: ElementInstance,
    node: FlowNode,
    job_type: str,
    extra: dict[str, Any] | None = None,
    retries: int | None = None,
) -> None:
    """Hand the element to a connector of `job_type`; the element waits for its answer."""
    value: dict[str, Any] = {
        "key": elem.key,
        "type": job_type,
        "retries": retries if retries is not None else job_retries(node),
        "variables": dict(vars_.visible(ctx.inst, elem.key)),
        "headers": dict(node.task_headers),
    }
    value.update(element_context(ctx, node))
    if extra:
        value.update(extra)
    ctx.write_element(Event.JOB_CREATED, elem, value)


def job_retries(node: FlowNode) -> int:
    """The retries a job starts with: `laneway:retries`, the vendor's retries (both in
    `FlowNode.job_retries`), or 3."""
    raw = node.job_retries
    try:
        return max(int(str(raw).strip().lstrip("=")), 1) if raw else DEFAULT_RETRIES
    except ValueError:
        return DEFAULT_RETRIES


def _resource_roles(node: FlowNode) -> tuple[str | None, list[str], list[str]]:
    """BPMN's own assignment: humanPerformer names the assignee; potentialOwner lists
    `user(id)` and `group(id)` entries, a bare name being a group (as Camunda 7 reads it)."""
    assignee: str | None = None
    users: list[str] = []
    groups: list[str] = []
    for role, text in node.performers:
        entries = [e.strip() for e in text.split(",") if e.strip()]
        if role in ("humanPerformer", "performer"):
            if entries:
                assignee = _unwrap(entries[0], "user")
            continue
        for entry in entries:
            if entry.startswith("user("):
                users.append(_unwrap(entry, "user"))
            else:
                groups.append(_unwrap(entry, "group"))
    return assignee, users, groups


def _unwrap(entry: str, word: str) -> str:
    prefix = f"{word}("
    if entry.startswith(prefix) and entry.endswith(")"):
        return entry[len(prefix):-1].strip()
    return entry


def _assignment(raw: str | None, variables: Mapping[str, Any], errors: list[str]) -> list[str]:
    """A static assignment as names: a literal comma list, or an expression (`=expr`,
    `${expr}`) evaluated with the instance's variables. An expression that fails or gives
    nothing assigns no one (the task stays open to its lane's persona and other candidates);
    the failure is kept in `errors` for the worklist to show."""
    if raw is None or not raw.strip():
        return []
    expression = written_expression(raw)
    if expression is None:
        return [n.strip() for n in raw.split(",") if n.strip()]
    try:
        value = evaluate(expression, variables)
    except ExpressionError as exc:
        errors.append(f"'{raw}': {exc}")
        return []
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [n.strip() for n in str(value).split(",") if n.strip()]


def create_user_task(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """Put the task in the worklist; the element waits for its completion."""
    proc = ctx.proc
    value: dict[str, Any] = {"key": elem.key, "processId": proc.id, "version": proc.version}
    value.update(element_context(ctx, node))
    value.setdefault("persona", None)
    form = node.form
    if form:
        value["form"] = form
    assignee, groups, users = node.assignee, node.candidate_groups, node.candidate_users
    std_assignee, std_users, std_groups = _resource_roles(node)
    variables = vars_.visible(ctx.inst, elem.key)
    errors: list[str] = []
    assignees = _assignment(assignee, variables, errors) if assignee else (
        [std_assignee] if std_assignee else [])
    group_list = _assignment(groups, variables, errors) if groups else std_groups
    user_list = _assignment(users, variables, errors) + std_users
    if assignees:
        value["assignee"] = assignees[0]
    if group_list:
        value["candidateGroups"] = list(dict.fromkeys(group_list))
    if user_list:
        value["candidateUsers"] = list(dict.fromkeys(user_list))
    if errors:
        value["assignmentErrors"] = errors
    minutes = sla_minutes(node.sla_minutes)
    if minutes is not None:
        value["dueDate"] = ctx.cmd.timestamp + round(minutes * 60_000)
    if node.escalation_connector:
        value["escalationConnector"] = node.escalation_connector
    local = ctx.inst.variables.get(elem.key)
    if local:
        value["variables"] = dict(local)
    ctx.write_element(Event.USER_TASK_CREATED, elem, value)
