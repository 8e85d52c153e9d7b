"""Commands on user tasks: claim, unclaim and complete by a person, escalate by the SLA loop.

A person's command is checked in this order, and the first failure is the rejection:
the task is open (`NOT_FOUND`); the principal holds the task's persona, then is one of its
candidates (`FORBIDDEN`, `laneway.engine.user_tasks.refusal`); then ownership: a claimed or
assigned task is completed and unclaimed only by its owner (`FORBIDDEN`), and claiming a task
someone else owns is refused (`ALREADY_CLAIMED`). No principal is exempt, the engine's own
included.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.handlers._common import command_variables, live_instance
from laneway.engine.state import UserTask
from laneway.engine.user_tasks import refusal
from laneway.records import Event, PrincipalKind, RejectionType


def _task(ctx: Processing) -> UserTask | None:
    if not live_instance(ctx):
        return None
    key = ctx.cmd.value.get("taskKey")
    task = ctx.inst.user_tasks.get(key) if isinstance(key, int) else None
    if task is None:
        ctx.reject(f"Expected user task {key} of instance '{ctx.inst.instance_id}' to be open, "
                   "but it is not", RejectionType.NOT_FOUND)
    return task


def _who(ctx: Processing) -> str:
    p = ctx.cmd.principal
    return f"{p.kind.value} '{p.id}'"


def _what(task: UserTask) -> str:
    return f"user task '{task.element_id}' ({task.key})"


def _element(task: UserTask) -> dict[str, str]:
    return {"element_id": task.element_id, "element_type": "userTask"}


def _permitted(ctx: Processing) -> UserTask | None:
    """The open task when the principal may act on it as a person (persona, candidates)."""
    task = _task(ctx)
    if task is None:
        return None
    reason = refusal(ctx.cmd.principal, task)
    if reason is not None:
        ctx.reject(reason, RejectionType.FORBIDDEN, **_element(task))
        return None
    return task


def _owned(ctx: Processing, task: UserTask, doing: str) -> bool:
    """Whether the principal may `doing` the task given who owns it; otherwise reject."""
    owner = task.owner
    if owner is None or owner == ctx.cmd.principal.id:
        return True
    how = "claimed by" if task.claimant else "assigned to"
    ctx.reject(f"Expected {_who(ctx)} to own {_what(task)} to {doing} it, but it is {how} "
               f"'{owner}'; only '{owner}' may {doing} it", RejectionType.FORBIDDEN,
               **_element(task))
    return False


def claim_user_task(ctx: Processing) -> None:
    """A person takes the task: from now on only they may complete it. Claiming a task one
    already owns is accepted again (USER_TASK_CLAIMED once more), so a retried claim gets an
    answer instead of a rejection."""
    task = _permitted(ctx)
    if task is None:
        return
    owner = task.owner
    if owner is not None and owner != ctx.cmd.principal.id:
        how = "claimed by" if task.claimant else "assigned to"
        ctx.reject(f"Expected {_what(task)} to be free for {_who(ctx)} to claim, but it is "
                   f"{how} '{owner}'", RejectionType.ALREADY_CLAIMED, **_element(task))
        return
    elem = ctx.inst.elements[task.element_key]
    ctx.write_element(Event.USER_TASK_CLAIMED, elem,
                      {"key": task.key, "claimant": ctx.cmd.principal.id})


def unclaim_user_task(ctx: Processing) -> None:
    """The claimant gives the task back to its lane (a static assignee stays)."""
    task = _permitted(ctx)
    if task is None or not _owned(ctx, task, "unclaim"):
        return
    if task.claimant is None:
        ctx.reject(f"Expected {_what(task)} to be claimed, but it is not",
                   RejectionType.NOT_CLAIMED,
                   **_element(task))
        return
    elem = ctx.inst.elements[task.element_key]
    ctx.write_element(Event.USER_TASK_UNCLAIMED, elem,
                      {"key": task.key, "claimant": task.claimant})


def complete_user_task(ctx: Processing) -> None:
    """A person completed a task: the element completes with the result."""
    task = _permitted(ctx)
    if task is None or not _owned(ctx, task, "complete"):
        return
    variables = command_variables(ctx)
    if variables is None:
        return
    elem = ctx.inst.elements[task.element_key]
    ctx.write_element(Event.USER_TASK_COMPLETED, elem, {"key": task.key, "variables": variables})
    flow.complete(ctx, elem, variables)


def escalate_user_task(ctx: Processing) -> None:
    """An overdue task is escalated once; a task naming `laneway:escalationConnector` also
    gets a notification job for that connector, which nothing waits on."""
    task = _task(ctx)
    if task is None:
        return
    actor = ctx.cmd.principal
    if actor.kind is PrincipalKind.HUMAN and not actor.has_role("operator"):
        # escalation tells supervisors a task is late; the people doing the task must not be
        # able to raise (or spend) it themselves
        ctx.reject(f"Expected an agent (the worklist's SLA loop) or an operator to escalate "
                   f"{_what(task)}, but {_who(ctx)} is neither", RejectionType.FORBIDDEN,
                   **_element(task))
        return
    if task.escalated:
        ctx.reject(f"Expected {_what(task)} not to be escalated yet, but it was",
                   RejectionType.ALREADY_ESCALATED, **_element(task))
        return
    if task.due is None:
        ctx.reject(f"Expected {_what(task)} to have a due date, but it has no "
                   "laneway:slaMinutes", RejectionType.NOT_DUE, **_element(task))
        return
    if ctx.cmd.timestamp < task.due:
        ctx.reject(f"Expected {_what(task)} to be overdue, but it is due at {task.due} and the "
                   f"command is of {ctx.cmd.timestamp}", RejectionType.NOT_DUE, **_element(task))
        return
    elem = ctx.inst.elements[task.element_key]
    escalated: dict[str, Any] = {"key": task.key, "dueDate": task.due}
    if task.escalation_connector:
        escalated["escalationConnector"] = task.escalation_connector
    ctx.write_element(Event.USER_TASK_ESCALATED, elem, escalated)
    if task.escalation_connector:
        node = ctx.proc.node(elem.element_id)
        job: dict[str, Any] = {
            "key": ctx.new_key(), "type": task.escalation_connector,
            "retries": work.job_retries(node),
            "variables": dict(vars_.visible(ctx.inst, elem.key)), "headers": {},
        }
        job.update(work.element_context(ctx, node))
        job.update({"notification": True, "taskKey": task.key, "dueDate": task.due,
                    "persona": task.persona})
        if task.owner:
            job["assignee"] = task.owner
        ctx.write_element(Event.JOB_CREATED, elem, job)
