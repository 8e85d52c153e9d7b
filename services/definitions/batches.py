"""Migration batches: many running instances moved to another version, one MIGRATE_INSTANCE
command per instance, and the batch's progress.

The batch and its items are this service's (schema `definitions`, tables `migration_batches`
and `migration_items`): it sends the commands, as it sends every operator's command. What the
engine answered each command is in the audit log; a progress read looks up the items still
waiting for an answer there (`laneway.shared_reads.CommandOutcomes`) and keeps the answers, so
each command's answer is read once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.publisher import Publisher
from laneway.records import Command, Principal, command
from laneway.shared_reads import CommandOutcomes

MAX_BATCH = 1000
"""How many instances one batch may migrate (a larger set: several batches)."""
SHOWN_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class Item:
    """One instance of a batch and what became of its command."""

    instance_id: str
    state: str
    rejection_type: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A batch as it stands."""

    batch_id: str
    process_id: str
    target_version: int
    mappings: dict[str, str]
    items: list[Item]

    def count(self, *states: str) -> int:
        """How many items are in one of `states`."""
        return sum(1 for i in self.items if i.state in states)


class Batches:
    """Creates batches, sends their commands, reads their progress."""

    def __init__(self, pool: ConnectionPool, outcomes: CommandOutcomes) -> None:
        self._pool = pool
        self._outcomes = outcomes

    def create(self, process_id: str, target_version: int, mappings: dict[str, str],
               instance_ids: Sequence[str], refused: dict[str, str], principal: Principal,
               publisher: Publisher, clock_ms: Callable[[], int]) -> str:
        """Store the batch (every instance PENDING, or REFUSED at once with the reason in
        `refused`), send one MIGRATE_INSTANCE per instance to migrate (all at once, each
        acknowledged), and mark them SENT. A send that fails raises: they stay PENDING."""
        batch_id = str(uuid.uuid4())
        commands = {iid: str(uuid.uuid4()) for iid in instance_ids}
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO migration_batches (batch_id, process_id, target_version,"
                         " mappings, principal) VALUES (%s, %s, %s, %s, %s)",
                         (batch_id, process_id, target_version, Jsonb(mappings),
                          Jsonb(principal.ref())))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO migration_items (batch_id, instance_id, command_id, state,"
                    " rejection_type, reason) VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(batch_id, iid, commands[iid],
                      "REFUSED" if iid in refused else "PENDING",
                      "NOT_FOUND" if iid in refused else None, refused.get(iid))
                     for iid in instance_ids])
        value: dict[str, Any] = {"targetVersion": target_version, "mappings": mappings,
                                 "batchId": batch_id}
        sent = [iid for iid in instance_ids if iid not in refused]
        if sent:
            publisher.send_commands([command(
                Command.MIGRATE_INSTANCE, iid, value, record_id=commands[iid],
                timestamp=clock_ms(), principal=principal) for iid in sent])
            with self._pool.connection() as conn:
                conn.execute("UPDATE migration_items SET state = 'SENT' WHERE batch_id = %s"
                             " AND instance_id = ANY(%s)", (batch_id, sent))
        return batch_id

    def progress(self, batch_id: str) -> Progress | None:
        """The batch with its items, the answers that arrived since the last read taken from
        the audit log; None when there is no such batch."""
        with self._pool.connection() as conn:
            head = conn.execute("SELECT process_id, target_version, mappings FROM"
                                " migration_batches WHERE batch_id = %s", (batch_id,)).fetchone()
            if head is None:
                return None
            waiting = conn.execute("SELECT instance_id, command_id FROM migration_items"
                                   " WHERE batch_id = %s AND state = 'SENT'",
                                   (batch_id,)).fetchall()
        if waiting:
            answers = self._outcomes.answers(
                [str(r[0]) for r in waiting], [str(r[1]) for r in waiting],
                [Command.MIGRATE_INSTANCE.value, "INSTANCE_MIGRATED"])
            if answers:
                with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE migration_items SET state = %s, rejection_type = %s,"
                        " reason = %s WHERE batch_id = %s AND command_id = %s",
                        [("DONE" if kind == "EVENT" else "REFUSED", rtype, reason, batch_id, cid)
                         for cid, (kind, rtype, reason) in answers.items()])
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT instance_id, state, rejection_type, reason FROM"
                                " migration_items WHERE batch_id = %s ORDER BY instance_id"
                                " LIMIT %s", (batch_id, SHOWN_ITEMS)).fetchall()
        return Progress(batch_id, str(head[0]), int(head[1]), dict(head[2]),
                        [Item(str(r[0]), str(r[1]), r[2], r[3]) for r in rows])
