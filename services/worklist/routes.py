"""The task routes, served by the worklist service on its own port (`services.worklist.app`).

They read `tasks` and `task_commands` (written by this service's projection) through the
service's parts (`services.worklist.deps.Deps`: pool, publisher, form checker, answer timeout)
and act as the principal of the request's bearer token (`laneway.auth.http`). A POST sends the
engine command, then waits (at most `LANEWAY_TASK_ANSWER_S`, default 10 s) until the
projection has the engine's answer. The routes are plain `def`s: FastAPI runs them in its
thread pool, which suits psycopg's blocking pool.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import APIRouter, HTTPException, Query, Response, status
from opentelemetry.trace import SpanKind
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from laneway.auth.http import AuthenticatedInline
from laneway.records import Command, Principal, RejectionType, command
from laneway.shared_reads import OwnerTableMissing
from laneway.telemetry import instance_span
from laneway.web.bounds import MAX_INT
from laneway.web.problems import problem
from services.worklist import store
from services.worklist.answers import POLL_S, AnswerWaiters, Waiter
from services.worklist.deps import Deps
from services.worklist.forms import UnknownForm
from services.worklist.projection import parse_task_id

__all__ = ["TaskPage", "TaskView", "router"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_STATUS_OF_REJECTION: dict[str, int] = {RejectionType.FORBIDDEN: status.HTTP_403_FORBIDDEN,
                        RejectionType.NOT_FOUND: status.HTTP_404_NOT_FOUND,
                        RejectionType.EXCEEDED_SIZE: status.HTTP_413_CONTENT_TOO_LARGE}
_SEE_ALL = ("operator",)  # and admin (Principal.has_role)


class _ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PrincipalRef(_ApiModel):
    """Who acted: the principal's kind and id, never the claims of its token."""

    kind: str = Field(description="`human`, `agent` or `system`.")
    id: str = Field(description="The person's, agent's or system's id.")


class TaskView(_ApiModel):
    """A user task as the worklist projects it."""

    task_id: str = Field(description="`<instanceId>:<key>`: the id in the task routes.")
    instance_id: str = Field(description="The process instance.")
    task_key: int = Field(description="The task's key within the instance (`taskKey`).")
    process_id: str = Field(description="The process.")
    version: int = Field(description="The process version.")
    element_id: str = Field(description="The BPMN user task.")
    element_name: str | None = Field(description="Its name in the diagram.")
    lane: str | None = Field(description="The lane's name (or id).")
    lane_id: str | None = Field(description="The lane's id.")
    persona: str | None = Field(description="Who may work on it (`laneway:persona`).")
    attributes: dict[str, Any] = Field(description="The element's extension attributes.")
    form: str | None = Field(description="The form schema id completions are checked against.")
    assignee: str | None = Field(description="Who holds it (a claim or a static assignee).")
    candidate_users: list[str] = Field(description="Users who may take it.")
    candidate_groups: list[str] = Field(description="Groups who may take it.")
    state: str = Field(description="`open`, `claimed`, `completed` or `cancelled`.")
    variables: dict[str, Any] = Field(description="The task's input variables.")
    created_at: datetime = Field(description="When the engine created it.")
    claimed_at: datetime | None = Field(description="When it was claimed.")
    completed_at: datetime | None = Field(description="When it was completed.")
    cancelled_at: datetime | None = Field(description="When it was cancelled.")
    due_date: datetime | None = Field(description="When it is due (`laneway:slaMinutes`).")
    overdue: bool = Field(description="Open or claimed and past its due date.")
    escalation_connector: str | None = Field(description="Who is notified when it is overdue.")
    escalated_at: datetime | None = Field(description="When the engine escalated it.")
    completed_by: PrincipalRef | None = Field(description="Who completed it.")
    result: dict[str, Any] | None = Field(description="The variables it was completed with.")


class TaskPage(_ApiModel):
    """A page of tasks."""

    count: int = Field(description="How many tasks match (all pages).")
    items: list[TaskView] = Field(description="This page.")


class CompleteTask(_ApiModel):
    """The body of a completion."""

    variables: dict[str, Any] = Field(default_factory=dict,
                                      description="The result; checked against the form.")


class Rejected(_ApiModel):
    """The engine refused the command."""

    detail: str = Field(description="The engine's reason.")
    rejection_type: str | None = Field(description="`FORBIDDEN`, `NOT_FOUND`, `ALREADY_CLAIMED`...")


class NoAnswer(_ApiModel):
    """The engine has not answered in time."""

    detail: str = Field(description="What happened, and what to do.")
    command_id: str = Field(description="The command's record id, to look for in the history.")


class FieldErrorView(BaseModel):
    """One field the form refuses."""

    field: str
    message: str


class FormErrors(BaseModel):
    """The submission does not satisfy the task's form."""

    errors: list[FieldErrorView]


# -- reading -------------------------------------------------------------------------------------


@router.get("", summary="Tasks for the caller, or every task (scope=all)",
            responses={403: {"description": "scope=all without the operator or admin role."}})
def list_tasks(
    deps: Deps,
    principal: AuthenticatedInline,
    instance_id: Annotated[str | None, Query(alias="instanceId")] = None,
    process_id: Annotated[str | None, Query(alias="processId")] = None,
    state: Annotated[list[store.State] | None, Query(
        description="Only these states (repeat the parameter).")] = None,
    overdue: Annotated[bool, Query(description="Only open or claimed tasks past due.")] = False,
    assignee: Annotated[str | None, Query(description="Only tasks held by this id.")] = None,
    scope: Annotated[store.Scope, Query(
        description="`mine` (default): tasks the caller holds or may claim; `all`: every "
                    "task (role operator or admin).")] = "mine",
    sort: Annotated[store.Sort, Query()] = "created",
    order: Annotated[store.Order, Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> TaskPage:
    """By default the tasks the caller has claimed (or is assigned), and the open ones it may
    claim: its persona, and one of the candidate users or groups when the task names any."""
    if scope == "all" and not principal.has_role(*_SEE_ALL):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"Expected the role operator or admin for scope=all, but "
                            f"'{principal.id}' has {list(principal.roles) or 'none'}")
    query = store.TaskQuery(mine=None if scope == "all" else principal,
                            instance_id=instance_id, process_id=process_id,
                            states=tuple(state or ()), overdue=overdue, assignee=assignee,
                            sort=sort, order=order, limit=limit, offset=offset)
    count, rows = _read(deps.pool, lambda conn: store.search_tasks(conn, query))
    return TaskPage(count=count, items=[_view(r) for r in rows])


@router.get("/{task_id}", summary="One task",
            responses={404: {"description": "No such task (yet)."}})
def get_task(task_id: str, deps: Deps, principal: AuthenticatedInline) -> TaskView:
    """A task by its id (`<instanceId>:<key>`), if the caller may see it (`store.visible_to`;
    otherwise 404, as for a task that does not exist, so ids reveal nothing)."""
    row = _task_or_404(deps.pool, task_id)
    if not store.visible_to(row, principal):
        raise _no_task(task_id)
    return _view(row)


# -- commands ------------------------------------------------------------------------------------

_ANSWERS: dict[int | str, dict[str, Any]] = {
    403: {"model": Rejected, "description": "The engine refused: not the caller's task."},
    404: {"description": "No such task, or the engine no longer holds it."},
    409: {"model": Rejected, "description": "The engine refused (claimed by another...)."},
    504: {"model": NoAnswer, "description": "The engine has not answered in time."},
}


@router.post("/{task_id}/claim", summary="Claim a task", responses=_ANSWERS)
def claim_task(task_id: str, deps: Deps, principal: AuthenticatedInline) -> Any:
    """CLAIM_USER_TASK as the caller; 200 with the task once the engine accepted it."""
    return _command(deps, principal, task_id, Command.CLAIM_USER_TASK, {})


@router.post("/{task_id}/unclaim", summary="Give a claimed task back", responses=_ANSWERS)
def unclaim_task(task_id: str, deps: Deps, principal: AuthenticatedInline) -> Any:
    """UNCLAIM_USER_TASK as the caller; 200 with the task once the engine accepted it."""
    return _command(deps, principal, task_id, Command.UNCLAIM_USER_TASK, {})


@router.post("/{task_id}/complete", summary="Complete a task",
             responses={**_ANSWERS,
                        409: {"model": Rejected,
                              "description": "The engine refused, or the task's form is not "
                                             "in the registry."},
                        413: {"model": Rejected,
                              "description": "The variables are over the size limit, or the "
                                             "instance's state would be (docs/limits.md)."},
                        422: {"model": FormErrors,
                              "description": "The variables do not satisfy the form."}})
def complete_task(task_id: str, deps: Deps, principal: AuthenticatedInline,
                  body: CompleteTask | None = None) -> Any:
    """COMPLETE_USER_TASK with `variables`, checked against the task's form first."""
    variables = (body or CompleteTask()).variables
    deps.publisher.check_variables(variables)  # 413 before any lookup or form check
    task = _task_or_404(deps.pool, task_id)
    form = task.get("form")
    if form:
        try:
            problems = deps.forms(str(form), variables)
        except OwnerTableMissing as exc:
            _log.error("task %r: %s", task_id, exc)  # names the table: not the caller's
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "Expected the form registry of the definitions service, but it "
                                "has not started yet. Retry shortly.",
                                headers={"Retry-After": "5"}) from exc
        except UnknownForm:
            return problem(
                status.HTTP_409_CONFLICT,
                f"Expected form '{form}' of task '{task_id}' in the form registry, but there "
                "is none: upload it (PUT /api/form-schemas/{formId})",
                rejectionType=RejectionType.UNKNOWN_FORM.value)
        if problems:
            return problem(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Expected variables that fit form '{form}', but {len(problems)} field(s) "
                "do not", errors=[{"field": p.field, "message": p.message} for p in problems])
    return _command(deps, principal, task_id, Command.COMPLETE_USER_TASK,
                    {"variables": variables}, task)


def _command(deps: Deps, principal: Principal, task_id: str, intent: Command,
             extra: Mapping[str, Any], task: dict[str, Any] | None = None) -> Any:
    task = task if task is not None else _task_or_404(deps.pool, task_id)
    command_id = str(uuid.uuid4())
    # registered before the command goes out, so an answer projected at once still wakes it
    woken = deps.answers.register(command_id) if deps.answers is not None else None
    try:
        return _send_and_wait(deps, principal, task_id, intent, extra, task, command_id,
                              woken)
    finally:
        if deps.answers is not None:
            deps.answers.forget(command_id)


def _send_and_wait(deps: Deps, principal: Principal, task_id: str, intent: Command,
                   extra: Mapping[str, Any], task: dict[str, Any], command_id: str,
                   woken: threading.Event | None) -> Any:
    pool, wait_s = deps.pool, deps.answer_timeout_s
    # a span in the instance's trace from the request to the engine's answer; the command
    # carries it, so the engine's span for the command is its child
    with instance_span(f"laneway.worklist.{intent.value.lower()}", str(task["instance_id"]),
                       element_id=str(task.get("element_id") or ""), kind=SpanKind.SERVER,
                       attributes={"laneway.task_id": task_id}):
        deps.publisher.send_command(command(
            intent, str(task["instance_id"]), {"taskKey": int(task["task_key"]), **extra},
            record_id=command_id, timestamp=time.time_ns() // 1_000_000,
            principal=principal))
        answered = _wait_for_answer(pool, command_id, task_id, wait_s, deps.answers, woken)
    if answered is None:
        return problem(
            status.HTTP_504_GATEWAY_TIMEOUT,
            f"Expected the engine to answer {intent.value} for task '{task_id}' within "
            f"{wait_s:g}s, but it has not: the command may still be processed; look for "
            f"command {command_id} in the instance's history or GET the task again",
            commandId=command_id)
    # the task's row as of the answer's snapshot (one query for both: the answer and the
    # task's change are written in one transaction, so the row is current)
    answer, row = answered
    if answer.outcome == "rejected":
        if answer.rejection_type == RejectionType.NOT_FOUND.value:
            if row is None:
                raise _no_task(task_id)
            if row["state"] in _ENDED_STATES:
                # the engine forgets a task once it ends; the worklist still has it, and a
                # second completion of a completed task is a conflict, not a missing task
                return problem(
                    status.HTTP_409_CONFLICT,
                    f"Expected task '{task_id}' to be open, but it is {row['state']}",
                    rejectionType=RejectionType.INVALID_STATE.value)
        return problem(
            _STATUS_OF_REJECTION.get(answer.rejection_type or "", status.HTTP_409_CONFLICT),
            answer.reason or f"{intent.value} was rejected",
            rejectionType=answer.rejection_type)
    if row is None:
        raise _no_task(task_id)
    # the JSON FastAPI would make of the view, made here: a `Response` goes out as it is,
    # where a returned model is validated again in the thread pool (one more hop there and
    # back to the event loop, for an `Any` route)
    return Response(_view(row).model_dump_json(by_alias=True), media_type="application/json")


_ENDED_STATES = frozenset({"completed", "cancelled"})


def _wait_for_answer(pool: ConnectionPool, command_id: str, task_id: str, wait_s: float,
                     answers: AnswerWaiters | None = None,
                     woken: threading.Event | None = None
                     ) -> tuple[store.Answer, dict[str, Any] | None] | None:
    """The answer and the task's row (`store.answer_and_task`); between looks, wait for the
    projection's notification (woken as soon as the answer is committed) or, without one,
    poll (`services.worklist.answers`). While notifications arrive, the first look waits
    for one: the request registered before sending, so an answer committed at once has set
    its event already, and a look straight after sending (the engine cannot have answered
    yet) would only cost a connection and a round trip. An answer this process's projection
    handed over (`AnswerWaiters.resolve`) needs no look at all."""
    deadline = time.monotonic() + wait_s
    if answers is not None and woken is not None and answers.listening:
        answers.wait(woken, wait_s)
    while True:
        handed = _handed_over(pool, woken, task_id)
        if handed is not None:
            return handed
        # a connection per look, so waiting requests do not hold the pool
        found = _read(pool, lambda conn: store.answer_and_task(conn, command_id, task_id))
        remaining = deadline - time.monotonic()
        if found is not None or remaining <= 0:
            return found
        if answers is not None and woken is not None:
            answers.wait(woken, remaining)
        else:
            time.sleep(min(POLL_S, remaining))


def _handed_over(pool: ConnectionPool, woken: threading.Event | None, task_id: str
                 ) -> tuple[store.Answer, dict[str, Any] | None] | None:
    """What the projection of this process handed over, None if nothing (yet). A rejection
    comes without the task's row: it is read only when the answer depends on it."""
    answered = woken.answered if isinstance(woken, Waiter) else None
    if answered is None:
        return None
    answer, row = answered
    if row is None and answer.rejection_type == RejectionType.NOT_FOUND.value:
        row = _read(pool, lambda conn: store.get_task(conn, task_id))
    return answer, row


def _task_or_404(pool: ConnectionPool, task_id: str) -> dict[str, Any]:
    if parse_task_id(task_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected a task id '<instanceId>:<key>', but got '{task_id}'")
    row = _read(pool, lambda conn: store.get_task(conn, task_id))
    if row is None:
        raise _no_task(task_id)
    return row


def _no_task(task_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND,
                         f"Expected a task '{task_id}', but there is none (a task shows here "
                         "once the worklist has projected its creation)")


def _read(pool: ConnectionPool, read: Callable[[psycopg.Connection[Any]], _T]) -> _T:
    """`read` on a pooled connection, and once more on another when the first fails with a
    connection error: the pool looks at a connection without a round trip
    (`laneway.db.check_if_ended`), so a backend ended just after that look fails the read
    itself. A read changes nothing, so doing it again is safe; a pool that has no
    connection to give (PoolTimeout) is not asked twice."""
    try:
        with _reading(pool) as conn:
            return read(conn)
    except PoolTimeout:
        raise
    except psycopg.OperationalError as exc:
        _log.warning("a read of the task routes failed (%s); once more", exc)
        with _reading(pool) as conn:
            return read(conn)


class _reading:
    """A pooled connection; a missing `tasks` table is a 503 naming the worklist service."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._cm: Any = None

    def __enter__(self) -> psycopg.Connection[Any]:
        self._cm = self._pool.connection()
        conn: psycopg.Connection[Any] = self._cm.__enter__()
        return conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self._cm.__exit__(kind, exc, tb)
        if isinstance(exc, psycopg.errors.UndefinedTable):
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "Expected the worklist's tables, but they are missing: start "
                                "the worklist service (python -m services.worklist), which "
                                "creates them") from exc


def _view(row: Mapping[str, Any]) -> TaskView:
    due = row["due_at"]
    open_ = row["state"] in ("open", "claimed")
    return TaskView(
        task_id=row["task_id"], instance_id=row["instance_id"], task_key=row["task_key"],
        process_id=row["process_id"], version=row["version"], element_id=row["element_id"],
        element_name=row["element_name"], lane=row["lane"], lane_id=row["lane_id"],
        persona=row["persona"], attributes=row["attributes"] or {}, form=row["form"],
        assignee=row["assignee"], candidate_users=list(row["candidate_users"] or []),
        candidate_groups=list(row["candidate_groups"] or []), state=row["state"],
        variables=row["variables"] or {}, created_at=row["created_at"],
        claimed_at=row["claimed_at"], completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"], due_date=due,
        overdue=bool(open_ and due is not None and due < datetime.now(due.tzinfo)),
        escalation_connector=row["escalation_connector"], escalated_at=row["escalated_at"],
        completed_by=_who(row["completed_by"]), result=row["result"])


def _who(stored: Mapping[str, Any] | None) -> PrincipalRef | None:
    # rows projected before the projection kept only {kind, id} hold the whole principal,
    # claims included: shown without them too
    if not stored:
        return None
    return PrincipalRef(kind=str(stored.get("kind", "")), id=str(stored.get("id", "")))
