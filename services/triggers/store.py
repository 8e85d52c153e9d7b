"""The schedules table and what the scheduler, the reconciler and the routes do with it.

Every write that must hold against another replica is one statement or one transaction:
claiming due schedules takes a lease with `FOR UPDATE SKIP LOCKED`, and a poll's outcome (its
fires and the next cursor) is saved in one transaction only while the lease is still ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.triggers import Declared

_COLUMNS = """id::text AS id, type, process_id, version, start_event_id, settings, attributes,
    timer, polled, paused, retired, cursor, polled_once, next_poll_at, last_poll_at,
    last_fire_at, fires_total, failures, last_error, last_error_at, credentials,
    credential_names, lease_owner, lease_until, created_at, updated_at"""


@dataclass(frozen=True, slots=True)
class Row:
    """One schedule as stored."""

    id: str
    type: str
    process_id: str
    version: int
    start_event_id: str
    settings: Mapping[str, str]
    attributes: Mapping[str, str]
    timer: tuple[str, str] | None
    polled: bool
    paused: bool
    retired: bool
    cursor: Any
    polled_once: bool
    next_poll_at: datetime
    last_poll_at: datetime | None
    last_fire_at: datetime | None
    fires_total: int
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    credentials: bytes | None
    credential_names: tuple[str, ...]
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> str:
        """`retired`, `paused`, `failing` or `active`."""
        if self.retired:
            return "retired"
        if self.paused:
            return "paused"
        return "failing" if self.failures else "active"

    @staticmethod
    def of(d: Mapping[str, Any]) -> Row:
        timer = d["timer"]
        return Row(**{**d, "timer": tuple(timer) if timer else None,
                      "credentials": bytes(d["credentials"]) if d["credentials"] else None,
                      "credential_names": tuple(d["credential_names"] or ())})


@dataclass(frozen=True, slots=True)
class Fire:
    """One item started (or refused) by a schedule."""

    dedup_key: str
    instance_id: str
    version: int
    summary: Mapping[str, Any]
    requested_by: str | None
    refused: str | None
    fired_at: datetime


class ScheduleStore:
    """The schedules of one deployment (the service's schema)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    # --- the reconciler ----------------------------------------------------------------------

    def sync_process(self, process_id: str, version: int | None, declared: Sequence[Declared],
                     polled: Mapping[str, bool]) -> list[str]:
        """Make the schedules of `process_id` those `declared` by its running `version` (None:
        it has none): new ones created due now, existing ones moved to the version (cursor,
        credentials, pause kept), the rest retired. `polled` says per type whether it is
        polled. The ids of the schedules created."""
        created: list[str] = []
        with self.pool.connection() as conn, conn.transaction():
            keep = [d.schedule_id for d in declared] if version is not None else []
            conn.execute("""UPDATE schedules SET retired = true, updated_at = now()
                            WHERE process_id = %s AND NOT retired AND NOT (id::text = ANY(%s))""",
                         (process_id, keep))
            if version is None:
                return created
            for d in declared:
                row = conn.execute(
                    """INSERT INTO schedules (id, type, process_id, version, start_event_id,
                           settings, attributes, timer, polled)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (id) DO UPDATE SET
                           version = EXCLUDED.version, settings = EXCLUDED.settings,
                           attributes = EXCLUDED.attributes, timer = EXCLUDED.timer,
                           polled = EXCLUDED.polled, retired = false,
                           -- a changed type starts over: the old cursor means nothing to it
                           cursor = CASE WHEN schedules.type = EXCLUDED.type
                                         THEN schedules.cursor END,
                           polled_once = schedules.polled_once
                                         AND schedules.type = EXCLUDED.type,
                           next_poll_at = CASE WHEN schedules.retired
                                                 OR schedules.version <> EXCLUDED.version
                                               THEN now() ELSE schedules.next_poll_at END,
                           type = EXCLUDED.type, updated_at = now()
                       WHERE schedules.version <= EXCLUDED.version
                       RETURNING (xmax = 0) AS inserted""",
                    (d.schedule_id, d.type, process_id, version, d.start_event_id,
                     Jsonb(dict(d.settings)), Jsonb(dict(d.attributes)),
                     Jsonb(list(d.timer)) if d.timer else None,
                     polled.get(d.type, True))).fetchone()
                if row is not None and row[0]:
                    created.append(d.schedule_id)
        return created

    # --- the scheduler ---------------------------------------------------------------------

    def claim_due(self, owner: str, lease_s: float, limit: int,
                  schedule_id: str | None = None) -> list[Row]:
        """Lease up to `limit` due schedules (or the one named, due or not) to `owner`; a
        schedule leased by another replica whose lease has not run out is left alone."""
        where = ("id = %(id)s::uuid AND polled AND NOT retired" if schedule_id is not None else
                 "polled AND NOT paused AND NOT retired AND next_poll_at <= now()")
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(
                f"""UPDATE schedules SET lease_owner = %(owner)s,
                        lease_until = now() + make_interval(secs => %(lease)s)
                    WHERE id IN (SELECT id FROM schedules
                                 WHERE {where}
                                   AND (lease_until IS NULL OR lease_until < now()
                                        OR lease_owner = %(owner)s)
                                 ORDER BY next_poll_at LIMIT %(limit)s
                                 FOR UPDATE SKIP LOCKED)
                    RETURNING {_COLUMNS}""",
                {"owner": owner, "lease": lease_s, "limit": limit, "id": schedule_id}
            ).fetchall()
        return [Row.of(r) for r in rows]

    def fired_keys(self, schedule_id: str, keys: Iterable[str]) -> set[str]:
        """Which of `keys` this schedule has already started."""
        keys = list(keys)
        if not keys:
            return set()
        with self.pool.connection() as conn:
            rows = conn.execute("""SELECT dedup_key FROM fires WHERE schedule_id = %s
                                   AND dedup_key = ANY(%s)""", (schedule_id, keys)).fetchall()
        return {r[0] for r in rows}

    def fire_of(self, schedule_id: str, key: str) -> str | None:
        """The instance id an item already started, else None."""
        with self.pool.connection() as conn:
            row = conn.execute("""SELECT instance_id::text FROM fires WHERE schedule_id = %s
                                  AND dedup_key = %s""", (schedule_id, key)).fetchone()
        return None if row is None else str(row[0])

    def save_poll(self, row: Row, owner: str, fires: Sequence[Mapping[str, Any]], cursor: Any,
                  next_poll: datetime, keep_cursor: bool = False) -> bool:
        """Record a successful poll: its fires, the cursor (unless `keep_cursor`: a manual
        fire), the next poll; only while `owner` holds the lease (False when it lost it: the
        fires are recorded anyway, the cursor is left to the replica that holds it now)."""
        with self.pool.connection() as conn, conn.transaction():
            self._insert_fires(conn, row, fires)
            started = sum(1 for f in fires if not f.get("refused"))
            cur = conn.execute(
                """UPDATE schedules SET
                       cursor = CASE WHEN %(keep)s THEN cursor ELSE %(cursor)s END,
                       polled_once = polled_once OR NOT %(keep)s,
                       next_poll_at = %(next)s, last_poll_at = now(),
                       last_fire_at = CASE WHEN %(started)s > 0 THEN now() ELSE last_fire_at END,
                       fires_total = fires_total + %(started)s,
                       failures = 0, lease_owner = NULL, lease_until = NULL, updated_at = now()
                   WHERE id = %(id)s AND lease_owner = %(owner)s""",
                {"keep": keep_cursor, "cursor": Jsonb(cursor), "next": next_poll,
                 "started": started, "id": row.id, "owner": owner})
            return cur.rowcount == 1

    def record_push(self, row: Row, fire: Mapping[str, Any]) -> None:
        """Record a start requested from outside (a webhook call)."""
        with self.pool.connection() as conn, conn.transaction():
            inserted = self._insert_fires(conn, row, [fire])
            if inserted:
                conn.execute("""UPDATE schedules SET last_fire_at = now(),
                                fires_total = fires_total + 1, updated_at = now()
                                WHERE id = %s""", (row.id,))

    @staticmethod
    def _insert_fires(conn: Any, row: Row, fires: Sequence[Mapping[str, Any]]) -> int:
        inserted = 0
        for f in fires:
            cur = conn.execute(
                """INSERT INTO fires (schedule_id, dedup_key, instance_id, version, summary,
                       requested_by, refused)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (row.id, f["dedupKey"], f["instanceId"], row.version,
                 Jsonb(dict(f.get("summary") or {})), f.get("requestedBy"), f.get("refused")))
            inserted += cur.rowcount
        return inserted

    def record_failure(self, row: Row, owner: str, message: str, next_poll: datetime,
                       keep: int) -> None:
        """A failed poll: the error kept (the newest `keep`), the backoff set, the lease
        given back."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                """UPDATE schedules SET failures = failures + 1, last_error = %s,
                       last_error_at = now(), last_poll_at = now(), next_poll_at = %s,
                       lease_owner = NULL, lease_until = NULL, updated_at = now()
                   WHERE id = %s AND lease_owner = %s""", (message, next_poll, row.id, owner))
            self._error(conn, row.id, message, keep)

    def record_error(self, schedule_id: str, message: str, keep: int) -> None:
        """An error that is not a failed poll (a refused item, a hook call that failed)."""
        with self.pool.connection() as conn, conn.transaction():
            self._error(conn, schedule_id, message, keep)

    @staticmethod
    def _error(conn: Any, schedule_id: str, message: str, keep: int) -> None:
        conn.execute("INSERT INTO schedule_errors (schedule_id, message) VALUES (%s, %s)",
                     (schedule_id, message[:2000]))
        conn.execute("""DELETE FROM schedule_errors WHERE schedule_id = %s AND id NOT IN
                        (SELECT id FROM schedule_errors WHERE schedule_id = %s
                         ORDER BY id DESC LIMIT %s)""", (schedule_id, schedule_id, keep))

    def release(self, schedule_id: str, owner: str) -> None:
        """Give a lease back without recording a poll (the service stops)."""
        with self.pool.connection() as conn:
            conn.execute("""UPDATE schedules SET lease_owner = NULL, lease_until = NULL
                            WHERE id = %s AND lease_owner = %s""", (schedule_id, owner))

    def next_due_in(self) -> float | None:
        """Seconds until the next schedule falls due (None: none is)."""
        with self.pool.connection() as conn:
            row = conn.execute("""SELECT extract(epoch FROM min(next_poll_at) - now())
                                  FROM schedules WHERE polled AND NOT paused AND NOT retired
                               """).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # --- the routes --------------------------------------------------------------------------

    def get(self, schedule_id: str) -> Row | None:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            found = cur.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = %s::uuid",
                                (schedule_id,)).fetchone()
        return None if found is None else Row.of(found)

    def schedules(self, *, process_id: str | None = None, type_: str | None = None,
             include_retired: bool = False, limit: int = 200) -> list[Row]:
        clauses = ["true"]
        params: list[Any] = []
        if process_id is not None:
            clauses.append("process_id = %s")
            params.append(process_id)
        if type_ is not None:
            clauses.append("type = %s")
            params.append(type_)
        if not include_retired:
            clauses.append("NOT retired")
        params.append(limit)
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(f"""SELECT {_COLUMNS} FROM schedules
                                   WHERE {' AND '.join(clauses)}
                                   ORDER BY process_id, start_event_id LIMIT %s""",
                               params).fetchall()
        return [Row.of(r) for r in rows]

    def recent(self, schedule_id: str, limit: int = 20
               ) -> tuple[list[Fire], list[tuple[datetime, str]]]:
        """The newest fires and errors of a schedule."""
        with self.pool.connection() as conn:
            fires = conn.execute(
                """SELECT dedup_key, instance_id::text, version, summary, requested_by,
                          refused, fired_at
                   FROM fires WHERE schedule_id = %s ORDER BY fired_at DESC LIMIT %s""",
                (schedule_id, limit)).fetchall()
            errors = conn.execute(
                """SELECT at, message FROM schedule_errors WHERE schedule_id = %s
                   ORDER BY id DESC LIMIT %s""", (schedule_id, limit)).fetchall()
        return [Fire(*f) for f in fires], [(e[0], e[1]) for e in errors]

    def set_paused(self, schedule_id: str, paused: bool) -> bool:
        """Pause or resume; a resumed schedule is due at once (what arrived meanwhile fires)."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                """UPDATE schedules SET paused = %s, updated_at = now(),
                       next_poll_at = CASE WHEN %s THEN next_poll_at ELSE now() END,
                       failures = CASE WHEN %s THEN failures ELSE 0 END
                   WHERE id = %s::uuid""", (paused, paused, paused, schedule_id))
            return cur.rowcount == 1

    def set_credentials(self, schedule_id: str, sealed: bytes | None,
                        names: Sequence[str]) -> bool:
        """Store sealed credentials (None clears them); a failing schedule is due at once."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                """UPDATE schedules SET credentials = %s, credential_names = %s,
                       next_poll_at = CASE WHEN failures > 0 THEN now() ELSE next_poll_at END,
                       updated_at = now()
                   WHERE id = %s::uuid""", (sealed, sorted(names), schedule_id))
            return cur.rowcount == 1


def utc(ts: float) -> datetime:
    """An aware datetime from epoch seconds."""
    return datetime.fromtimestamp(ts, UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
