"""The only reads a service makes of another service's tables: read-only, by schema-qualified
name, and listed here so that the coupling is in one place.

Each service owns its tables and migrations in its own schema (`laneway.service_schemas`).
Where another service needs a fact the owner keeps and no topic carries yet, it reads the
owner's table through this module, never writes it, and reads only the columns named here;
a migration of the owner that changes them changes this module in the same commit.

- The worklist checks a task's completion against its form: `FormSchemas` reads
  `form_schemas` of the definitions service (the form registry, `PUT /api/form-schemas`).
- The definitions service refuses to resolve an incident of an instance nobody has seen:
  `InstanceLookup` reads `instances` of the audit service (the instance projection); a
  migration batch selects its instances there by process, version and status.
- A migration batch's progress (the definitions service): `CommandOutcomes` reads the audit
  log (`audit_log`) for what the engine answered each MIGRATE_INSTANCE the batch sent (the
  INSTANCE_MIGRATED event or the rejection, found by the command's record id).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

__all__ = ["CommandOutcomes", "FormSchemas", "InstanceLookup", "OwnerTableMissing"]


class OwnerTableMissing(RuntimeError):
    """The owner's table is not there: its service has not started (and migrated) yet on this
    database. Retryable once it has."""


@contextmanager
def _owned_by(service: str, table: str) -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise OwnerTableMissing(
            f"Expected the {service} service's table {table}, but it is missing: "
            f"start the {service} service (python -m services.{service}), which creates "
            "it") from exc


class FormSchemas:
    """Form schemas by id, from the definitions service's `form_schemas` (read only)."""

    def __init__(self, pool: ConnectionPool, definitions_schema: str) -> None:
        self._pool = pool
        self._table = f"{definitions_schema}.form_schemas"
        self._query = sql.SQL("SELECT schema FROM {} WHERE form_id = %s").format(
            sql.Identifier(definitions_schema, "form_schemas"))

    def get(self, form_id: str) -> dict[str, Any] | None:
        """The schema stored under `form_id`, None when there is none; OwnerTableMissing
        before the definitions service created the table."""
        with _owned_by("definitions", self._table), self._pool.connection() as conn:
            row = conn.execute(self._query, (form_id,)).fetchone()
        return None if row is None else dict(row[0])


class InstanceLookup:
    """Whether the audit service's instance projection (`instances`) holds an instance."""

    def __init__(self, pool: ConnectionPool, audit_schema: str) -> None:
        self._pool = pool
        self._schema = audit_schema
        self._table = f"{audit_schema}.instances"
        self._query = sql.SQL("SELECT 1 FROM {} WHERE instance_id = %s").format(
            sql.Identifier(audit_schema, "instances"))

    def exists(self, instance_id: str) -> bool:
        """True once the projection has seen the instance; OwnerTableMissing before the audit
        service created the table."""
        with _owned_by("audit", self._table), self._pool.connection() as conn:
            return conn.execute(self._query, (instance_id,)).fetchone() is not None

    def describe(self, instance_id: str) -> tuple[str, int, str] | None:
        """(process id, version, status) of an instance the projection has seen, else None;
        OwnerTableMissing before the audit service created the table."""
        query = sql.SQL("SELECT process_id, version, status FROM {} WHERE instance_id = %s"
                        ).format(sql.Identifier(self._schema, "instances"))
        with _owned_by("audit", self._table), self._pool.connection() as conn:
            row = conn.execute(query, (instance_id,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    def running(self, process_id: str, version: int | None, limit: int) -> list[str]:
        """Ids of the process's instances still running (ACTIVE or INCIDENT), of `version`
        when given, at most `limit`, oldest update first."""
        query = sql.SQL(
            "SELECT instance_id FROM {} WHERE process_id = %s"
            " AND (%s::integer IS NULL OR version = %s) AND status IN ('ACTIVE', 'INCIDENT')"
            " ORDER BY updated_at, instance_id LIMIT %s"
        ).format(sql.Identifier(self._schema, "instances"))
        with _owned_by("audit", self._table), self._pool.connection() as conn:
            rows = conn.execute(query, (process_id, version, version, limit)).fetchall()
        return [str(r[0]) for r in rows]


class CommandOutcomes:
    """What the engine answered commands, from the audit service's log (`audit_log`): the
    event an accepted command wrote first, or its rejection (read only)."""

    def __init__(self, pool: ConnectionPool, audit_schema: str) -> None:
        self._pool = pool
        self._table = f"{audit_schema}.audit_log"
        # a command's events have record ids `<command id>.<n>`, its rejections
        # `<command id>.r<n>[@<delivery>]` (laneway/engine/context.py)
        self._query = sql.SQL(
            "SELECT split_part(record_id, '.', 1), kind, value->>'rejectionType',"
            " value->>'reason' FROM {} WHERE instance_id = ANY(%s) AND intent = ANY(%s)"
            " AND split_part(record_id, '.', 1) = ANY(%s) ORDER BY instance_id, seq"
        ).format(sql.Identifier(audit_schema, "audit_log"))

    def answers(self, instance_ids: list[str], command_ids: list[str],
                intents: list[str]) -> dict[str, tuple[str, str | None, str | None]]:
        """command id -> (kind EVENT or REJECTION, rejection type, reason) for the commands
        answered so far (the first answer of each)."""
        with _owned_by("audit", self._table), self._pool.connection() as conn:
            rows = conn.execute(self._query, (instance_ids, intents, command_ids)).fetchall()
        out: dict[str, tuple[str, str | None, str | None]] = {}
        for command_id, kind, rejection_type, reason in rows:
            out.setdefault(str(command_id), (str(kind), rejection_type, reason))
        return out
