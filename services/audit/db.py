"""PostgreSQL for the audit service: connections on its schema, its migrations, and the grants
of the role it writes with (the bounded wait at start is the kit's, through
`laneway.db.prepare_database`).

Its migrations are recorded in `audit_schema_migrations` (`laneway.db.apply_migrations`).
Two roles (docs/audit.md "Who may write"): the owner (`DATABASE_URL`) runs the migrations and
`grant_writer`; the writer (`LANEWAY_AUDIT_DATABASE_URL`) is what the sink, the projection
and the routes connect as, and may only read and append to the log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from laneway.db import apply_migrations, connect, connect_kwargs, ensure_schema, open_pool

__all__ = [
    "MIGRATIONS_DIR",
    "WRITER_GRANTS",
    "connect",
    "connect_kwargs",
    "ensure_schema",
    "grant_writer",
    "migrate",
    "migrate_and_grant",
    "open_pool",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only audit replicas share it.
_MIGRATION_LOCK = 0x41554454  # "AUDT"

WRITER_GRANTS: dict[str, tuple[str, ...]] = {
    # the log: read and append, nothing else (no UPDATE, DELETE, TRUNCATE; not the owner, so
    # no ALTER TABLE ... DISABLE TRIGGER either)
    "audit_log": ("SELECT", "INSERT"),
    # the signed heads move forward (INSERT ... ON CONFLICT DO UPDATE); the trigger refuses
    # a move back, a delete and a truncate
    "audit_heads": ("SELECT", "INSERT", "UPDATE"),
    # the instance projection's table is a projection, not a log: upserts
    "instances": ("SELECT", "INSERT", "UPDATE"),
}
"""What the writer role holds on the audit's tables, and nothing more."""


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the audit's migrations not applied yet, on `conn`'s schema; their names."""
    return apply_migrations(conn, directory, table="audit_schema_migrations",
                            lock=_MIGRATION_LOCK)


def grant_writer(conn: psycopg.Connection[Any], writer_url: str) -> str:
    """As the owner, on `conn`'s schema after the migrations: check the writer role of
    `writer_url` and give it exactly `WRITER_GRANTS`; its name.

    A missing role is created (LOGIN, with the URL's password) when the owner may create
    roles (a superuser, as in docker-compose); otherwise this raises naming the statement an
    administrator runs once. A writer that is a superuser or may act as the owner is refused:
    the log would not be append-only for it. Under the migration lock, so replicas starting
    together do not race on the catalog.
    """
    info = conninfo_to_dict(writer_url)
    role = str(info.get("user") or "")
    password = info.get("password")
    name = sql.Identifier(role)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        found = conn.execute(
            "SELECT rolsuper, pg_has_role(%s, current_user, 'MEMBER') FROM pg_roles "
            "WHERE rolname = %s", (role, role)).fetchone()
        if found is None:
            _create_role(conn, role, None if password is None else str(password))
        elif found[0] or found[1]:
            raise RuntimeError(
                f"Expected the audit writer role '{role}' to be a plain role, but it is a "
                "superuser or may act as the tables' owner: the audit log would not be "
                "append-only for it (docs/audit.md)")
        schema = conn.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise RuntimeError("Expected the audit's schema on the search path, but there is "
                               "none")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema[0]), name))
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in
                                    (*WRITER_GRANTS, "audit_schema_migrations"))
        conn.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(tables, name))
        for table, privileges in WRITER_GRANTS.items():
            conn.execute(sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(table),
                name))
    return role


def _create_role(conn: psycopg.Connection[Any], role: str, password: str | None) -> None:
    may = conn.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles "
                       "WHERE rolname = current_user").fetchone()
    if may is None or not may[0]:
        raise RuntimeError(
            f"Expected the audit writer role '{role}' to exist, but it does not, and the "
            f"tables' owner may not create roles: create it once as an administrator "
            f"(CREATE ROLE {role} LOGIN PASSWORD '...'; docs/audit.md)")
    statement = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role))
    if password is not None:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    conn.execute(statement)


def migrate_and_grant(writer_url: str) -> Callable[[psycopg.Connection[Any]], list[str]]:
    """`prepare_database`'s step for the service: the migrations, then `grant_writer`."""
    def step(conn: psycopg.Connection[Any]) -> list[str]:
        applied = migrate(conn)
        grant_writer(conn, writer_url)
        return applied
    return step
