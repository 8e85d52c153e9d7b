"""Reading the worklist's tables for the API: task search, one task, a command's answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from laneway.engine.user_tasks import person_refusal
from laneway.records import Principal, persona_key

__all__ = ["TASK_COLUMNS", "Answer", "Order", "Scope", "Sort", "State", "TaskQuery", "answer",
           "answer_and_task", "get_task", "search_tasks"]

Sort = Literal["created", "due", "name"]
State = Literal["open", "claimed", "completed", "cancelled"]
Scope = Literal["mine", "all"]
Order = Literal["asc", "desc"]

_SORT_COLUMNS: dict[str, sql.Composable] = {
    "created": sql.SQL("created_at"),
    "due": sql.SQL("due_at"),
    "name": sql.SQL("coalesce(element_name, element_id)"),
}

TASK_COLUMNS = (
    "task_id, instance_id, task_key, process_id, version, element_id, element_name, lane, "
    "lane_id, persona, attributes, form, assignee, candidate_users, candidate_groups, state, "
    "variables, created_at, claimed_at, completed_at, cancelled_at, due_at, "
    "escalation_connector, escalated_at, completed_by, result")
"""A task's columns as the routes show it (`routes._view`); the projection's RETURNING
(`projection.apply_records`) names the same, so a row it hands a request reads the same."""
COLUMNS = sql.SQL(TASK_COLUMNS)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQuery:
    """What `GET /api/tasks` asks for."""

    mine: Principal | None
    """Only tasks this principal holds or may claim; None for every task (scope=all)."""
    instance_id: str | None = None
    process_id: str | None = None
    states: Sequence[str] = ()
    overdue: bool = False
    assignee: str | None = None
    sort: Sort = "created"
    order: Order = "asc"
    limit: int = 100
    offset: int = 0


def _for(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """Tasks the principal holds (claimed by, or assigned to it) or completed, or open,
    unassigned tasks it may claim: its persona (if the lane has one) and, if the task names
    candidates, one of the candidate users or groups (groups match its groups, roles or
    personas). The engine checks the same when the command arrives; this only decides what
    the list shows."""
    clause = sql.SQL(
        "(assignee = %(me)s AND state IN ('open', 'claimed'))"
        " OR (completed_by->>'id' = %(me)s)"
        " OR (state = 'open' AND assignee IS NULL"
        "     AND (persona_key IS NULL OR persona_key = ANY(%(persona_keys)s))"
        "     AND ((cardinality(candidate_users) = 0 AND cardinality(candidate_groups) = 0)"
        "          OR %(me)s = ANY(candidate_users)"
        # groups compare normalised, as the engine compares them (`persona_key`)
        "          OR EXISTS (SELECT 1 FROM unnest(candidate_groups) AS g"
        "                     WHERE trim(BOTH '-' FROM regexp_replace(lower(g), '[^0-9a-z]+',"
        "                                '-', 'g')) = ANY(%(groups)s))))")
    return clause, {"me": principal.id,
                    "persona_keys": sorted({persona_key(p) for p in principal.personas}),
                    "groups": sorted(principal.group_keys())}


def search_tasks(conn: psycopg.Connection[Any], query: TaskQuery
                 ) -> tuple[int, list[dict[str, Any]]]:
    """(how many tasks match, the page of them as rows)."""
    where: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if query.mine is not None:
        clause, mine = _for(query.mine)
        where.append(sql.SQL("({})").format(clause))
        params.update(mine)
    if query.instance_id is not None:
        where.append(sql.SQL("instance_id = %(instance_id)s"))
        params["instance_id"] = query.instance_id
    if query.process_id is not None:
        where.append(sql.SQL("process_id = %(process_id)s"))
        params["process_id"] = query.process_id
    if query.states:
        where.append(sql.SQL("state = ANY(%(states)s)"))
        params["states"] = list(query.states)
    if query.overdue:
        where.append(sql.SQL("state IN ('open', 'claimed') AND due_at < now()"))
    if query.assignee is not None:
        where.append(sql.SQL("assignee = %(assignee)s"))
        params["assignee"] = query.assignee
    condition = (sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)) if where else sql.SQL("")
    direction = sql.SQL("DESC") if query.order == "desc" else sql.SQL("ASC")
    # tasks without a due date sort after those with one, whichever the direction
    nulls = sql.SQL(" NULLS LAST") if query.sort == "due" else sql.SQL("")
    statement = sql.SQL(
        "SELECT {columns}, count(*) OVER () AS total FROM tasks{where} "
        "ORDER BY {sort} {direction}{nulls}, task_id {direction} "
        "LIMIT %(limit)s OFFSET %(offset)s").format(
        columns=COLUMNS, where=condition, sort=_SORT_COLUMNS[query.sort],
        direction=direction, nulls=nulls)
    params.update(limit=query.limit, offset=query.offset)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(statement, params).fetchall()
    if rows:
        return int(rows[0].pop("total")), [_drop_total(r) for r in rows]
    if query.offset:
        # past the last page: the count still answers how many there are
        count = sql.SQL("SELECT count(*) FROM tasks{where}").format(where=condition)
        row = conn.execute(count, params).fetchone()
        return (int(row[0]) if row else 0), []
    return 0, []


def _drop_total(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("total", None)
    return row


def visible_to(row: Mapping[str, Any], principal: Principal) -> bool:
    """Whether one task may be shown to the principal: operators, auditors and admins see
    every task; anyone else the tasks it holds or completed, and those of its lanes (it holds
    the persona, and is a candidate when the task names candidates) in any state. Commands
    are not limited by this: the engine decides them, and audits who tried."""
    if principal.has_role("operator", "auditor"):
        return True
    me = principal.id
    completed_by = row.get("completed_by") or {}
    if row.get("assignee") == me or completed_by.get("id") == me:
        return True
    return person_refusal(principal, row.get("persona"), row.get("candidate_users") or [],
                          row.get("candidate_groups") or [], "the task") is None


def get_task(conn: psycopg.Connection[Any], task_id: str) -> dict[str, Any] | None:
    """One task's row, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql.SQL("SELECT {} FROM tasks WHERE task_id = %s").format(COLUMNS),
                           (task_id,)).fetchone()


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's answer to one task command, as projected."""

    outcome: Literal["accepted", "rejected"]
    reason: str | None
    rejection_type: str | None
    at: datetime


def answer(conn: psycopg.Connection[Any], command_id: str) -> Answer | None:
    """The projected answer to the command with this record id, or None (not yet)."""
    row = conn.execute("SELECT outcome, reason, rejection_type, at FROM task_commands "
                       "WHERE command_id = %s", (command_id,)).fetchone()
    if row is None:
        return None
    return Answer(row[0], row[1], row[2], row[3])


def answer_and_task(conn: psycopg.Connection[Any], command_id: str, task_id: str
                    ) -> tuple[Answer, dict[str, Any] | None] | None:
    """The projected answer to the command and the task's row as of the same snapshot (None
    when the task is gone), or None when there is no answer yet. One round trip: the
    projection writes the answer and the task's change in one transaction, so the row read
    with the answer is current, and the request needs no second query for its view."""
    statement = sql.SQL(
        "SELECT c.outcome AS answer_outcome, c.reason AS answer_reason, "
        "c.rejection_type AS answer_rejection_type, c.at AS answer_at, t.* "
        "FROM task_commands AS c "
        "LEFT JOIN (SELECT {} FROM tasks WHERE task_id = %s) AS t ON true "
        "WHERE c.command_id = %s").format(COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(statement, (task_id, command_id)).fetchone()
    if row is None:
        return None
    found = Answer(row.pop("answer_outcome"), row.pop("answer_reason"),
                   row.pop("answer_rejection_type"), row.pop("answer_at"))
    return found, (row if row["task_id"] is not None else None)
