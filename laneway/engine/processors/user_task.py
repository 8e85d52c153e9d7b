"""User tasks: a work item for a person in the task's lane.

Activated, the task writes `USER_TASK_CREATED` for the worklist: its persona (from its lanes
and the review's mapping), assignee and candidates (evaluated when written as expressions),
due date (`laneway:slaMinutes`), form and local variables (`create_user_task`). Then it
waits for people: `CLAIM_USER_TASK`, `UNCLAIM_USER_TASK` and `COMPLETE_USER_TASK`, checked
against its persona, candidates and owner (`handlers/user_tasks.py`); completing it completes
the element with the submitted variables. `ESCALATE_USER_TASK` (the worklist's SLA loop)
escalates it once it is overdue, with a notification job when it names
`laneway:escalationConnector`. Leaving the element any other way (a boundary event, a terminate
end) cancels the task (`USER_TASK_CANCELED`).

Deploy: `laneway:slaMinutes`, when given, is a positive number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours.work import element_context
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate, written_expression
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.engine.user_tasks import sla_minutes
from laneway.expr import ExpressionError
from laneway.model import FlowNode, Process
from laneway.records import Event


class UserTaskProcessor(ElementProcessor):
    """Creates the user task and waits for COMPLETE_USER_TASK."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        create_user_task(ctx, elem, node)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        try:
            sla_minutes(node.sla_minutes)
        except ValueError as exc:
            yield str(exc)


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


def _literal(raw: str | None) -> list[str] | None:
    """An assignment's names when they do not depend on the instance (absent, blank or a
    literal list: what `_assignment` gives for it); None for an expression."""
    if raw is None or not raw.strip():
        return []
    if written_expression(raw) is not None:
        return None
    return [n.strip() for n in raw.split(",") if n.strip()]


def _static(ctx: Processing, node: FlowNode) -> tuple[Any, ...]:
    """What a user task's USER_TASK_CREATED takes from its node, the same for every instance
    of the version: worked out once per version and node (`ExecutableProcess.statics`)."""
    cached = ctx.proc.statics.get(("userTask", node.id))
    if cached is None:
        std_assignee, std_users, std_groups = _resource_roles(node)
        cached = ctx.proc.statics[("userTask", node.id)] = (
            # (written, literal names or None for an expression) of each assignment
            (node.assignee, _literal(node.assignee)),
            (node.candidate_groups, _literal(node.candidate_groups)),
            (node.candidate_users, _literal(node.candidate_users)),
            std_assignee, std_users, std_groups, sla_minutes(node.sla_minutes),
            _prefix(ctx, node))
    return cached


def _prefix(ctx: Processing, node: FlowNode) -> dict[str, Any]:
    """The first fields of USER_TASK_CREATED after its key, in their order: process, version,
    the element's context (name, attributes, lane, persona) and form."""
    proc = ctx.proc
    value: dict[str, Any] = {"processId": proc.id, "version": proc.version}
    value.update(element_context(ctx, node))
    value.setdefault("persona", None)
    if node.form:
        value["form"] = node.form
    return value


def create_user_task(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """Put the task in the worklist; the element waits for its completion."""
    ((assignee, assignee_names), (groups, group_names), (users, user_names), std_assignee,
     std_users, std_groups, minutes, prefix) = _static(ctx, node)
    value: dict[str, Any] = {"key": elem.key}
    value.update(prefix)
    # the one mutable part of the prefix, copied (a record's value is its own)
    value["attributes"] = dict(prefix["attributes"])
    errors: list[str] = []
    # a literal assignment is taken as worked out (copied: the lists end up in the record);
    # an expression is evaluated with the instance's variables, in this order (its errors
    # are listed so)
    variables: Mapping[str, Any] = (
        vars_.visible(ctx.inst, elem.key)
        if assignee_names is None or group_names is None or user_names is None else {})
    if not assignee:
        assignees = [std_assignee] if std_assignee else []
    elif assignee_names is not None:
        assignees = list(assignee_names)
    else:
        assignees = _assignment(assignee, variables, errors)
    if not groups:
        group_list = std_groups
    elif group_names is not None:
        group_list = list(group_names)
    else:
        group_list = _assignment(groups, variables, errors)
    user_list = (list(user_names) if user_names is not None
                 else _assignment(users, variables, errors)) + std_users
    if assignees:
        value["assignee"] = assignees[0]
    if group_list:
        value["candidateGroups"] = list(dict.fromkeys(group_list))
    if user_list:
        value["candidateUsers"] = list(dict.fromkeys(user_list))
    if errors:
        value["assignmentErrors"] = errors
    if minutes is not None:
        value["dueDate"] = ctx.cmd.timestamp + round(minutes * 60_000)
    if node.escalation_connector:
        value["escalationConnector"] = node.escalation_connector
    local = ctx.inst.variables.get(elem.key)
    if local:
        value["variables"] = dict(local)
    ctx.write_element(Event.USER_TASK_CREATED, elem, value)
