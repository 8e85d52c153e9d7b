"""User-task records → `tasks` and `task_commands`: what one record changes, in SQL.

The Kafka side (polling, dead letters, offsets) is `services.worklist.consumer`; this module
only applies records, inside the caller's transaction, and is idempotent: every change to a
task row is guarded by where the record was read (partition, offset). The records of one
instance are on one partition in order, so a record at or before the row's last offset was
applied already and changes nothing; `task_commands` rows are keyed by the command's record id
and inserted at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from laneway.jsonb import jsonb_safe
from laneway.records import Command, Event, Record, RecordKind, persona_key
from laneway.records.values import KeyOnly, UserTaskClaim, UserTaskCompleted, UserTaskCreated
from laneway.web.bounds import keyed_id
from services.worklist.answers import NOTIFY_ANSWERS, Resolved
from services.worklist.store import TASK_COLUMNS, Answer

__all__ = [
    "ANSWERS",
    "TASK_COMMANDS",
    "TASK_EVENTS",
    "apply_record",
    "apply_records",
    "command_id_of",
    "is_task_record",
    "parse_task_id",
    "task_id",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NOTIFIED_ID = 200

_Kept = tuple[str, Answer, "psycopg.Cursor[dict[str, Any]] | None"]
"""An answer a request of this process waits for: its command id, the answer, and the cursor
of the UPDATE ... RETURNING that holds the task's row (None for a rejection)."""

TASK_EVENTS = frozenset({
    Event.USER_TASK_CREATED.value, Event.USER_TASK_CLAIMED.value,
    Event.USER_TASK_UNCLAIMED.value, Event.USER_TASK_COMPLETED.value,
    Event.USER_TASK_CANCELED.value, Event.USER_TASK_ESCALATED.value,
})
TASK_COMMANDS = frozenset({
    Command.CLAIM_USER_TASK.value, Command.UNCLAIM_USER_TASK.value,
    Command.COMPLETE_USER_TASK.value, Command.ESCALATE_USER_TASK.value,
})
ANSWERS: Mapping[str, str] = {
    Event.USER_TASK_CLAIMED.value: Command.CLAIM_USER_TASK.value,
    Event.USER_TASK_UNCLAIMED.value: Command.UNCLAIM_USER_TASK.value,
    Event.USER_TASK_COMPLETED.value: Command.COMPLETE_USER_TASK.value,
    Event.USER_TASK_ESCALATED.value: Command.ESCALATE_USER_TASK.value,
}
"""The event that accepts each task command."""


def task_id(instance_id: str, key: int) -> str:
    """`<instanceId>:<key>`: unique across instances, URL-safe for UUID instance ids."""
    return f"{instance_id}:{key}"


def parse_task_id(value: str) -> tuple[str, int] | None:
    """(instance id, task key) of a task id, or None when it is not one."""
    return keyed_id(value)


def command_id_of(record: Record) -> str:
    """The record id of the command a record answers: events are `<command>.<n>`,
    rejections `<command>.r<n>`, or `<command>.r<n>@<where it was read>` from the engine
    service, the delivery without a dot (laneway/engine/context.py)."""
    return record.record_id.rsplit(".", 1)[0]


def is_task_record(record: Record) -> bool:
    """Whether the worklist projects this record."""
    if record.kind is RecordKind.EVENT:
        return record.intent in TASK_EVENTS or record.intent == Event.INSTANCE_MIGRATED.value
    return record.kind is RecordKind.REJECTION and record.intent in TASK_COMMANDS


def _at(epoch_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=epoch_ms)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def _json(value: Any) -> Jsonb:
    # jsonb refuses NaN, the infinities and U+0000, which records may carry
    return Jsonb(jsonb_safe(value))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# A row changes only for a record read after the last one applied to it (same partition,
# higher offset); a row read from another partition (a recreated topic) takes the newer one.
_NEWER = "(t.last_partition <> %(partition)s OR t.last_offset < %(offset)s)"

_CREATE = """
INSERT INTO tasks AS t (task_id, instance_id, task_key, process_id, version, element_id,
    element_name, lane, lane_id, persona, persona_key, attributes, form, assignee,
    static_assignee, candidate_users, candidate_groups, state, variables, created_at, due_at,
    escalation_connector, last_record_id, last_partition, last_offset)
VALUES (%(task_id)s, %(instance_id)s, %(task_key)s, %(process_id)s, %(version)s,
    %(element_id)s, %(element_name)s, %(lane)s, %(lane_id)s, %(persona)s, %(persona_key)s,
    %(attributes)s, %(form)s, %(assignee)s, %(assignee)s, %(candidate_users)s,
    %(candidate_groups)s, 'open', %(variables)s, %(at)s, %(due_at)s,
    %(escalation_connector)s, %(record_id)s, %(partition)s, %(offset)s)
ON CONFLICT (task_id) DO NOTHING
"""

_UPDATES: Mapping[str, str] = {
    Event.USER_TASK_CLAIMED.value:
        "state = 'claimed', assignee = %(assignee)s, claimed_at = %(at)s",
    Event.USER_TASK_UNCLAIMED.value:
        "state = 'open', assignee = t.static_assignee, claimed_at = NULL",
    Event.USER_TASK_COMPLETED.value:
        "state = 'completed', completed_at = %(at)s, completed_by = %(principal)s, "
        "result = %(result)s",
    Event.USER_TASK_CANCELED.value: "state = 'cancelled', cancelled_at = %(at)s",
    Event.USER_TASK_ESCALATED.value: "escalated_at = coalesce(t.escalated_at, %(at)s)",
}

_ANSWER = """
INSERT INTO task_commands (command_id, task_id, intent, outcome, reason, rejection_type,
    principal, at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (command_id) DO NOTHING
"""


def apply_record(conn: psycopg.Connection[Any], record: Record, partition: int,
                 offset: int, *, wanted: Callable[[str], bool] | None = None,
                 kept: list[_Kept] | None = None) -> str | None:
    """Apply one user-task event or task-command rejection (see `is_task_record`), read at
    `partition`/`offset`, in the caller's transaction. Other records are ignored. The id of
    the command the record answers (a rejection, or the event accepting a task command),
    else None. An answer whose command id is `wanted` goes to `kept` too, an accepting
    event's with the cursor of its UPDATE returning the task's row (`apply_records`)."""
    if not is_task_record(record):
        return None
    if record.kind is RecordKind.REJECTION:
        return _rejected(conn, record, wanted, kept)
    if record.intent == Event.INSTANCE_MIGRATED.value:
        _migrated(conn, record, partition, offset)
        return None
    key = _int(cast(KeyOnly, record.value).get("key"))
    if key is None:
        raise ValueError(f"Expected an integer 'key' in {record.intent} {record.record_id}, "
                         f"but got {record.value.get('key')!r}")
    tid = task_id(record.instance_id, key)
    params: dict[str, Any] = {
        "task_id": tid, "record_id": record.record_id, "partition": partition,
        "offset": offset, "at": _at(record.timestamp),
    }
    if record.intent == Event.USER_TASK_CREATED.value:
        _created(conn, record, key, params)
        return None
    statement = (
        f"UPDATE tasks AS t SET {_UPDATES[record.intent]}, last_record_id = %(record_id)s, "
        f"last_partition = %(partition)s, last_offset = %(offset)s "
        f"WHERE t.task_id = %(task_id)s AND {_NEWER}")
    values = {**params, "assignee": _claimant(record),
              "principal": _json(record.principal.ref()),
              "result": _json(dict(cast(UserTaskCompleted, record.value).get("variables") or {}))}
    intent = ANSWERS.get(record.intent)
    command_id = command_id_of(record) if intent is not None else None
    if command_id is not None and kept is not None and wanted is not None \
            and wanted(command_id):
        # a request here waits for this answer: the row as this UPDATE leaves it comes back
        # in the same pipeline, so the request needs no query of its own
        cur = conn.cursor(row_factory=dict_row)
        cur.execute(f"{statement} RETURNING {TASK_COLUMNS}".encode(), values)
        kept.append((command_id, Answer("accepted", None, None, params["at"]), cur))
    else:
        conn.execute(statement.encode(), values)
    if intent is None or command_id is None:
        return None
    conn.execute(_ANSWER, (command_id, tid, intent, "accepted", None, None,
                           _json(record.principal.ref()), params["at"]))
    return command_id


def _migrated(conn: psycopg.Connection[Any], record: Record, partition: int,
              offset: int) -> None:
    """The instance runs another version (docs/instance-operations.md): its tasks still open
    take the version, and those whose element was renamed its new id (by task key)."""
    version = _int(record.value.get("targetVersion"))
    if version is None:
        raise ValueError(f"Expected an integer 'targetVersion' in {record.intent} "
                         f"{record.record_id}, but got {record.value.get('targetVersion')!r}")
    renamed = record.value.get("taskElementIds") or {}
    params = {"iid": record.instance_id, "version": version, "partition": partition,
              "offset": offset, "record_id": record.record_id}
    conn.execute(
        "UPDATE tasks AS t SET version = %(version)s, last_record_id = %(record_id)s,"
        " last_partition = %(partition)s, last_offset = %(offset)s"
        f" WHERE t.instance_id = %(iid)s AND t.state IN ('open', 'claimed') AND {_NEWER}"
        .encode(), params)
    for key, element_id in renamed.items() if isinstance(renamed, dict) else ():
        conn.execute("UPDATE tasks SET element_id = %s WHERE task_id = %s",
                     (str(element_id), task_id(record.instance_id, int(key))))


def _claimant(record: Record) -> str:
    """Who claimed: the engine's USER_TASK_CLAIMED names the claimant (the command's
    principal); records built by hand may name an `assignee` instead."""
    claim = cast(UserTaskClaim, record.value)
    return claim.get("claimant") or record.value.get("assignee") or record.principal.id


def _created(conn: psycopg.Connection[Any], record: Record, key: int,
             params: dict[str, Any]) -> None:
    v = cast(UserTaskCreated, record.value)
    persona = v.get("persona") or None
    due = _int(v.get("dueDate"))
    conn.execute(_CREATE, {
        **params, "instance_id": record.instance_id, "task_key": key,
        "process_id": str(v.get("processId") or ""), "version": _int(v.get("version")) or 0,
        "element_id": record.element_id, "element_name": v.get("elementName") or None,
        "lane": v.get("lane") or None, "lane_id": v.get("laneId") or None,
        "persona": persona, "persona_key": persona_key(persona) if persona else None,
        "attributes": _json(dict(v.get("attributes") or {})), "form": v.get("form") or None,
        "assignee": v.get("assignee") or None,
        "candidate_users": _strings(v.get("candidateUsers")),
        "candidate_groups": _strings(v.get("candidateGroups")),
        "variables": _json(dict(v.get("variables") or {})),
        "due_at": _at(due) if due is not None else None,
        "escalation_connector": v.get("escalationConnector") or None,
    })


def _rejected(conn: psycopg.Connection[Any], record: Record,
              wanted: Callable[[str], bool] | None, kept: list[_Kept] | None) -> str:
    v = record.value
    sent = v.get("command")
    key = _int(sent.get("taskKey")) if isinstance(sent, Mapping) else None
    tid = task_id(record.instance_id, key) if key is not None else record.instance_id
    command_id = command_id_of(record)
    reason = str(v.get("reason") or "")
    rejection_type = str(v.get("rejectionType") or "") or None
    at = _at(record.timestamp)
    conn.execute(_ANSWER, (command_id, tid, record.intent, "rejected", reason, rejection_type,
                           _json(record.principal.ref()), at))
    if kept is not None and wanted is not None and wanted(command_id):
        kept.append((command_id, Answer("rejected", reason, rejection_type, at), None))
    return command_id


def apply_records(conn: psycopg.Connection[Any],
                  records: Sequence[tuple[Record, int, int]], *,
                  wanted: Callable[[str], bool] | None = None,
                  resolved: list[tuple[str, Resolved | None]] | None = None) -> int:
    """Apply (record, partition, offset) triples in order, in the caller's transaction;
    return how many were task records. The answered commands' ids are NOTIFYed in the same
    transaction (`services.worklist.answers`): PostgreSQL delivers them on its commit, to
    the requests waiting for them. With `wanted` (whether a request of this process waits
    for a command id) and `resolved`, the answers wanted go to `resolved` instead, each with
    the task's row as this transaction leaves it (a rejection's without it), for the caller
    to hand over once the transaction has committed (`AnswerWaiters.resolve`); they are not
    NOTIFYed (the request waits here, nowhere else, and a notification racing the hand-over
    only made it read the answer again). An accepting event that changed no row (read again
    after a crash) goes to `resolved` without its answer (None): the caller wakes the
    request, which reads the answer itself."""
    applied = 0
    answered: list[str] = []
    kept: list[_Kept] | None = [] if resolved is not None and wanted is not None else None
    # pipeline mode: the statements go out without waiting for each answer (one round trip
    # for the batch, not one per record), still in order and in the caller's transaction; an
    # error surfaces at the pipeline's end and fails the batch as before
    with conn.pipeline():
        for record, partition, offset in records:
            if is_task_record(record):
                command_id = apply_record(conn, record, partition, offset, wanted=wanted,
                                          kept=kept)
                # only ids that fit a notification's payload (8000 bytes); the routes' are
                # UUIDs, and a request whose id is not notified still finds it by polling
                if command_id is not None and len(command_id) <= _MAX_NOTIFIED_ID and not (
                        kept and kept[-1][0] == command_id):
                    answered.append(command_id)
                applied += 1
        if answered:
            conn.execute(NOTIFY_ANSWERS, (answered,))
    # the pipeline has synced: every RETURNING's row is in its cursor
    if kept and resolved is not None:
        for command_id, answer, cur in kept:
            row = cur.fetchone() if cur is not None else None
            resolved.append((command_id, (answer, row) if cur is None or row is not None
                             else None))
    return applied
