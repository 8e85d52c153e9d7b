"""The instance projection's table (`instances`): written by `projection.InstanceProjection`,
read by the instance routes.

An instance's variables hold what people entered (names, e-mail and postal addresses), so a
reader without the role `operator` or `auditor` sees only the instances it takes part in
(`PARTICIPATING`): the one who started it, and whoever holds, held or may take one of its
user tasks by name (assignee, candidate user, claimant, completer). Who that is comes from
the audit log beside the table (the same schema), which keeps every record of the instance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from laneway.records import ANONYMOUS_ID, Principal


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One instance as the projection last saw it."""

    instance_id: str
    process_id: str
    version: int
    business_key: str | None
    status: str
    active_elements: list[str]
    variables: dict[str, Any]
    incidents: list[dict[str, Any]]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceUpsert(InstanceRow):
    """What one state snapshot says about its instance, and where it was read."""

    partition: int
    offset: int


_INSTANCE_COLUMNS = ("instance_id, process_id, version, business_key, status, active_elements,"
                     " variables, incidents, updated_at")


# The instances a principal takes part in, from the audit log: the principal of an
# instance's first record (its start), of a claim or a completion of one of its tasks, and
# the assignee and candidate users a task was created with. Each branch matches a partial
# index of migration 004, so the lookup reads only that principal's rows.
PARTICIPATING = """
SELECT instance_id FROM audit_log
 WHERE kind = 'EVENT' AND (seq = 1 OR intent IN ('USER_TASK_CLAIMED', 'USER_TASK_COMPLETED'))
   AND principal->>'id' = %(me)s AND principal->>'kind' = %(my_kind)s
UNION
SELECT instance_id FROM audit_log
 WHERE kind = 'EVENT' AND intent = 'USER_TASK_CREATED' AND value->>'assignee' = %(me)s
UNION
SELECT instance_id FROM audit_log
 WHERE kind = 'EVENT' AND intent = 'USER_TASK_CREATED' AND value->'candidateUsers' ? %(me)s
"""


def _reader_filter(reader: Principal | None) -> tuple[str, dict[str, Any]]:
    """(an SQL condition on `instance_id`, its parameters): every instance for None."""
    if reader is None:
        return "TRUE", {}
    if reader.id == ANONYMOUS_ID:
        # the public form's submitter: many people, one id; none of them reads anything
        return "FALSE", {}
    return (f"instance_id IN ({PARTICIPATING})",
            {"me": reader.id, "my_kind": reader.kind.value})


class InstanceStore:
    """The `instances` table: written by the projection, read by the API."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def get(self, instance_id: str, reader: Principal | None = None) -> InstanceRow | None:
        """One instance, or None (also when `reader` takes no part in it; None reads
        every instance)."""
        condition, params = _reader_filter(reader)
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(InstanceRow))
            return cur.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances"
                f" WHERE instance_id = %(iid)s AND {condition}".encode(),
                {**params, "iid": instance_id},
            ).fetchone()

    def search(self, process_id: str | None, status: str | None, limit: int,
               offset: int, reader: Principal | None = None) -> tuple[int, list[InstanceRow]]:
        """(how many match in all, one page of them, most recently updated first); only
        the instances `reader` takes part in unless it is None."""
        condition, reader_params = _reader_filter(reader)
        where = ("WHERE (%(pid)s::text IS NULL OR process_id = %(pid)s)"
                 " AND (%(status)s::text IS NULL OR status = %(status)s)"
                 f" AND {condition}")
        params = {"pid": process_id, "status": status, "limit": limit, "offset": offset,
                  **reader_params}
        with self._pool.connection() as conn:
            count_row = conn.execute(f"SELECT count(*) FROM instances {where}".encode(),
                                     params).fetchone()
            cur = conn.cursor(row_factory=class_row(InstanceRow))
            rows = cur.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances {where}"
                " ORDER BY updated_at DESC, instance_id LIMIT %(limit)s OFFSET %(offset)s"
                .encode(),
                params,
            ).fetchall()
        return (int(count_row[0]) if count_row else 0), rows


# What a snapshot already written becomes (benchmarks/audit_projection_bench.py's reference
# statement shares it).
ON_CONFLICT = (
    " ON CONFLICT (instance_id) DO UPDATE SET"
    " process_id = EXCLUDED.process_id, version = EXCLUDED.version,"
    " business_key = EXCLUDED.business_key, status = EXCLUDED.status,"
    " active_elements = EXCLUDED.active_elements, variables = EXCLUDED.variables,"
    " incidents = EXCLUDED.incidents, updated_at = EXCLUDED.updated_at,"
    " last_partition = EXCLUDED.last_partition, last_offset = EXCLUDED.last_offset"
    # same key, same partition, unless the topic was repartitioned: then the snapshot read
    # now is the one to keep
    " WHERE instances.last_partition <> EXCLUDED.last_partition"
    " OR instances.last_offset < EXCLUDED.last_offset"
)
# One statement for a batch of snapshots: the rows as arrays, unnested (an `executemany` of
# the same upsert spent ~60 µs of client CPU a row on the loaded development machine, most of
# it psycopg's per-row work: the parameters of each row and three `Jsonb` adapters). The jsonb
# columns come as the JSON texts `Jsonb` would send (`json.dumps`), cast by PostgreSQL.
_UPSERT = (
    "INSERT INTO instances (instance_id, process_id, version, business_key, status,"
    " active_elements, variables, incidents, updated_at, last_partition, last_offset)"
    " SELECT i, p, v, b, s, a::jsonb, va::jsonb, inc::jsonb, u, lp, lo FROM unnest("
    "%b::text[], %b::text[], %b::integer[], %b::text[], %b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::timestamptz[], %b::integer[], %b::bigint[])"
    " AS t(i, p, v, b, s, a, va, inc, u, lp, lo)"
    + ON_CONFLICT
)


def upsert_instances(conn: Connection[Any], rows: Sequence[InstanceUpsert]) -> int:
    """Write snapshots in the caller's transaction, in order; a row already written from a
    later offset of the same partition is left alone. Returns how many rows changed."""
    changed = 0
    # one statement cannot change a row twice (ON CONFLICT): an instance met again in the
    # batch starts the next statement, so each snapshot is weighed against the one before
    # it, as one statement per row would (the rows of a batch are in most cases all distinct)
    start = 0
    while start < len(rows):
        seen: set[str] = set()
        end = start
        while end < len(rows) and rows[end].instance_id not in seen:
            seen.add(rows[end].instance_id)
            end += 1
        changed += _upsert(conn, rows[start:end])
        start = end
    return changed


def _upsert(conn: Connection[Any], rows: Sequence[InstanceUpsert]) -> int:
    dumps = json.dumps  # what psycopg's Jsonb sends (its default dumps)
    result = conn.execute(_UPSERT, (
        [r.instance_id for r in rows], [r.process_id for r in rows],
        [r.version for r in rows], [r.business_key for r in rows], [r.status for r in rows],
        [dumps(r.active_elements) for r in rows], [dumps(r.variables) for r in rows],
        [dumps(r.incidents) for r in rows], [r.updated_at for r in rows],
        [r.partition for r in rows], [r.offset for r in rows]))
    return max(0, result.rowcount)
