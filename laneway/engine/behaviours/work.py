"""Work the engine hands out and waits on: jobs, user tasks; and incidents when it is stuck."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.records import Event
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode

DEFAULT_RETRIES = 3


def raise_incident(
    ctx: Processing,
    elem: ElementInstance,
    error_type: str,
    message: str,
    *,
    job_key: int = 0,
    stage: str = "activate",
) -> None:
    """Park the element with an incident; resolving it picks up again at `stage`."""
    key = ctx.new_key()
    ctx.write_element(Event.INCIDENT_CREATED, elem, {
        "key": key, "errorType": error_type, "message": message, "jobKey": job_key,
        "stage": stage,
    })


def element_context(ctx: Processing, node: FlowNode) -> dict[str, Any]:
    """What a handler of the element needs besides variables: its name, attribute bag, lane
    and persona."""
    lane = ctx.proc.lane(node.lane) if node.lane else None
    out: dict[str, Any] = {"elementName": node.name, "attributes": dict(node.attrs)}
    if lane is not None:
        out["lane"] = lane.name or lane.id
        out["laneId"] = lane.id
        out["persona"] = lane.persona
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
    """The retries a job starts with: `laneway:retries`, the vendor's retries, or 3."""
    raw = node.attrs.get("laneway:retries") or node.job_retries
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


def create_user_task(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """Put the task in the worklist; the element waits for its completion."""
    attrs = node.attrs
    value: dict[str, Any] = {"key": elem.key}
    value.update(element_context(ctx, node))
    form = attrs.get("laneway:form") or attrs.get("camunda:formKey")
    zeebe_form = node.extension("formDefinition")
    if form is None and zeebe_form is not None:
        form = zeebe_form.attributes.get("formKey") or zeebe_form.attributes.get("formId")
    if form:
        value["form"] = form
    assignment = node.extension("assignmentDefinition")
    assignee = attrs.get("laneway:assignee") or attrs.get("camunda:assignee")
    groups = attrs.get("laneway:candidateGroups") or attrs.get("camunda:candidateGroups")
    if assignment is not None:
        assignee = assignee or assignment.attributes.get("assignee")
        groups = groups or assignment.attributes.get("candidateGroups")
    std_assignee, std_users, std_groups = _resource_roles(node)
    assignee = assignee or std_assignee
    group_list = [g.strip() for g in groups.split(",") if g.strip()] if groups else std_groups
    if assignee:
        value["assignee"] = assignee
    if group_list:
        value["candidateGroups"] = group_list
    if std_users:
        value["candidateUsers"] = std_users
    local = ctx.inst.variables.get(elem.key)
    if local:
        value["variables"] = dict(local)
    ctx.write_element(Event.USER_TASK_CREATED, elem, value)
