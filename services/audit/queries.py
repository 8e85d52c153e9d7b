"""Reading the audit log: an instance's history, the check of its hash chain, and the replay of
its events through the engine core's appliers. Plain functions over a psycopg connection whose
search path reaches `audit_log`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from laneway.engine import EngineState, apply_event
from laneway.records import Principal, Record, RecordKind
from services.audit.anchor import Checkpoint, HeadSigner, check_head
from services.audit.chain import ChainRow, Verification, verify_chain
from services.audit.sink import EPOCH

__all__ = [
    "CommandAnswer",
    "HistoryEntry",
    "Replay",
    "command_answer",
    "head",
    "history",
    "known",
    "record_of",
    "replay",
    "replay_rows",
    "rows",
    "verify",
]

_CHAIN_COLUMNS = ("instance_id, seq, record_id, kind, intent, element_id, element_type, "
                  "token_id, scope_id, principal, value, event_time, prev_hash, hash")
# Rows are streamed from a server-side cursor, this many at a time: a long log never sits in
# memory whole.
_FETCH = 2000


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One record of an instance's history, readable."""

    seq: int
    """Position in the instance's log, from 1."""
    record_id: str
    """The record's id."""
    time: str
    """The record's timestamp, ISO 8601 in UTC with milliseconds."""
    kind: str
    """`EVENT` or `REJECTION`."""
    intent: str
    """What happened (an event) or what was refused (a rejection's command)."""
    element_id: str
    """The BPMN element the record is about ("" for none)."""
    element_type: str
    """That element's type."""
    principal: dict[str, Any]
    """Who acted: `{kind, id, roles}` (the claims that proved it stay in the log only)."""
    value: dict[str, Any]
    """The record's value (a rejection's holds `reason` and `rejectionType`)."""


@dataclass(frozen=True, slots=True)
class Replay:
    """An instance's state rebuilt from its log."""

    instance_id: str
    """The instance."""
    seq: int
    """The last seq read (the requested one, or the log's last when it is shorter)."""
    state: dict[str, Any] | None
    """`InstanceState.to_dict()` after the events up to `seq`; None when none created it."""
    verification: Verification
    """The hash chain of the rows read: a replay of a tampered log says so."""


def _millis(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def _iso(when: datetime) -> str:
    return when.astimezone(EPOCH.tzinfo).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def history(conn: psycopg.Connection[Any], instance_id: str, *, after: int = 0,
            limit: int = 100) -> list[HistoryEntry] | None:
    """The instance's records with seq > `after`, in order, at most `limit`; None when the
    log has no row of the instance at all."""
    found = conn.execute(
        "SELECT seq, record_id, event_time, kind, intent, element_id, element_type, "
        "principal, value FROM audit_log WHERE instance_id = %s AND seq > %s "
        "ORDER BY seq LIMIT %s", (instance_id, after, limit)).fetchall()
    if not found and not _exists(conn, instance_id):
        return None
    return [
        HistoryEntry(seq=int(seq), record_id=rid, time=_iso(when), kind=kind, intent=intent,
                     element_id=eid, element_type=etype,
                     principal={"kind": principal.get("kind"), "id": principal.get("id"),
                                "roles": list(principal.get("roles", []))},
                     value=value)
        for seq, rid, when, kind, intent, eid, etype, principal, value in found
    ]


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """What the engine answered one command: its first event, or its rejection."""

    seq: int
    kind: str
    intent: str
    rejection_type: str | None
    reason: str | None


def command_answer(conn: psycopg.Connection[Any], instance_id: str, command_id: str
                   ) -> CommandAnswer | None:
    """The first record the command `command_id` caused in the instance's log (its events
    have record ids `<command id>.<n>`, its rejections `<command id>.r<n>[@<delivery>]`:
    laneway/engine/context.py); None while there is none (`known` tells an instance nobody
    has seen). The scan is bounded by the instance's rows (the primary key)."""
    row = conn.execute(
        "SELECT seq, kind, intent, value->>'rejectionType', value->>'reason' FROM audit_log"
        " WHERE instance_id = %s AND starts_with(record_id, %s)"
        " AND kind IN ('EVENT', 'REJECTION') ORDER BY seq LIMIT 1",
        (instance_id, f"{command_id}.")).fetchone()
    if row is not None:
        seq, kind, intent, rejection_type, reason = row
        return CommandAnswer(seq=int(seq), kind=str(kind), intent=str(intent),
                             rejection_type=rejection_type, reason=reason)
    return None


def known(conn: psycopg.Connection[Any], instance_id: str) -> bool:
    """The log or the instance projection has the instance."""
    return conn.execute(
        "SELECT 1 FROM audit_log WHERE instance_id = %s UNION ALL"
        " SELECT 1 FROM instances WHERE instance_id = %s LIMIT 1",
        (instance_id, instance_id)).fetchone() is not None


def _exists(conn: psycopg.Connection[Any], instance_id: str) -> bool:
    return conn.execute("SELECT 1 FROM audit_log WHERE instance_id = %s LIMIT 1",
                        (instance_id,)).fetchone() is not None


def rows(conn: psycopg.Connection[Any], instance_id: str,
         up_to: int | None = None) -> Generator[ChainRow, None, None]:
    """The instance's rows as hashed, in seq order (up to and including `up_to`).

    Runs in a transaction of its own (a server-side cursor needs one); consume it fully or
    close it before using the connection for anything else.
    """
    limit = up_to if up_to is not None else 2**62
    with conn.transaction(), conn.cursor(name="audit_rows") as cur:
        cur.itersize = _FETCH
        cur.execute(f"SELECT {_CHAIN_COLUMNS} FROM audit_log "
                    "WHERE instance_id = %s AND seq <= %s ORDER BY seq", (instance_id, limit))
        for (iid, seq, rid, kind, intent, eid, etype, token, scope, principal, value, when,
             prev, digest) in cur:
            yield ChainRow(iid, int(seq), rid, kind, intent, eid, etype, int(token), int(scope),
                           principal, value, _millis(when), prev, digest)


def head(conn: psycopg.Connection[Any], instance_id: str) -> Checkpoint | None:
    """The instance's signed head as stored (None for none)."""
    found = conn.execute("SELECT seq, hash, mac FROM audit_heads WHERE instance_id = %s",
                         (instance_id,)).fetchone()
    if found is None:
        return None
    return Checkpoint(instance_id, int(found[0]), str(found[1]), str(found[2]))


def verify(conn: psycopg.Connection[Any], instance_id: str, signer: HeadSigner
           ) -> Verification | None:
    """Recompute the instance's hash chain and check it against its signed head; None when
    the log has neither a row nor a head of it.

    The head and the rows are read in one snapshot (REPEATABLE READ when the connection is
    idle): the sink commits both together, and a batch committed between two reads would
    look like a cut or unanchored rows.
    """
    last: list[ChainRow] = []

    def keep_last(source: Iterable[ChainRow]) -> Iterator[ChainRow]:
        for row in source:
            last[:] = [row]
            yield row

    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if idle:  # else the caller's transaction decides what it sees
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        checkpoint = head(conn, instance_id)
        with closing(rows(conn, instance_id)) as source:
            chain = verify_chain(keep_last(source))
    if chain.rows == 0 and checkpoint is None:
        return None
    return check_head(chain, last[0] if last else None, checkpoint, signer)


def record_of(row: ChainRow) -> Record:
    """The engine record a row holds."""
    return Record(record_id=row.record_id, kind=RecordKind(row.kind), intent=row.intent,
                  instance_id=row.instance_id, timestamp=row.timestamp, value=row.value,
                  element_id=row.element_id, element_type=row.element_type,
                  token_id=row.token_id, scope_id=row.scope_id,
                  principal=Principal.from_dict(row.principal))


def replay_rows(chain_rows: Iterable[ChainRow], state: EngineState | None = None
                ) -> EngineState:
    """Apply the events among `chain_rows` (kind EVENT; rejections change nothing) with the
    engine core's appliers, as the engine applied them when it wrote them."""
    state = state if state is not None else EngineState()
    for row in chain_rows:
        if row.kind == RecordKind.EVENT.value:
            apply_event(state, record_of(row))
    return state


def replay(conn: psycopg.Connection[Any], instance_id: str,
           up_to: int | None = None, signer: HeadSigner | None = None) -> Replay | None:
    """The instance's state after its events up to and including seq `up_to` (all when None);
    None when the log has no row of it.

    Only this instance's rows are read: records of other instances (the instance that called
    it, the message side of a correlation) are in their own logs and change only their own or
    the engine's shared indexes, never this instance's state. A replay of the whole log with
    a `signer` is checked against the signed head too, as `verify` does.
    """
    read: list[ChainRow] = []

    def kept(source: Iterable[ChainRow]) -> Iterator[ChainRow]:
        for row in source:
            read.append(row)
            yield row

    whole = up_to is None and signer is not None
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if whole and idle:  # the head and the rows in one snapshot, as in `verify`
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        checkpoint = head(conn, instance_id) if whole else None
        # read once, both replayed and verified: the answer says whether the rows it was
        # built from are the rows that were written. Closed before the transaction ends, also
        # when an applier raises: its cursor's transaction is inside this one.
        with closing(rows(conn, instance_id, up_to)) as source:
            state = replay_rows(kept(source))
    if not read:
        return None
    verification = verify_chain(read)
    if whole and signer is not None:
        verification = check_head(verification, read[-1], checkpoint, signer)
    inst = state.instances.get(instance_id)
    return Replay(instance_id=instance_id, seq=read[-1].seq,
                  state=inst.to_dict() if inst is not None else None,
                  verification=verification)
