"""PostgreSQL for the audit service: connections on its schema, waiting at start, migrations.

Migrations are the files `migrations/NNN_name.sql`, applied in name order, each in its own
transaction with its name recorded in `audit_schema_migrations` (the service's own table, so
it never mixes with another service's migrations in a shared schema); a file already recorded
is skipped, so running them on every start is safe. An advisory lock keeps two replicas
starting at once from applying the same file twice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from laneway.db import DatabaseUnavailable, connect_kwargs, ensure_schema, wait_for_database

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseUnavailable",
    "connect",
    "connect_kwargs",
    "ensure_schema",
    "migrate",
    "open_pool",
    "wait_for_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only audit replicas share it.
_MIGRATION_LOCK = 0x41554454  # "AUDT"

_log = logging.getLogger(__name__)





def connect(database_url: str, schema: str | None, *, autocommit: bool = False
            ) -> psycopg.Connection[Any]:
    """One connection on the audit schema."""
    return psycopg.connect(database_url, autocommit=autocommit, **connect_kwargs(schema))


def open_pool(database_url: str, schema: str | None, *, max_size: int = 5,
              timeout_s: float = 30.0) -> ConnectionPool:
    """An open pool on the audit schema, for the HTTP routes (`app.state.audit_pool`)."""
    pool = ConnectionPool(database_url, min_size=1, max_size=max_size,
                          kwargs=connect_kwargs(schema), open=False, name="audit")
    pool.open(wait=True, timeout=timeout_s)
    return pool



def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not applied yet, on `conn`'s schema; return their names."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_schema_migrations ("
            " name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM audit_schema_migrations")}
        for path in sorted(directory.glob("*.sql")):
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8").encode())
                conn.execute("INSERT INTO audit_schema_migrations (name) VALUES (%s)",
                             (path.name,))
            applied_now.append(path.name)
    for name in applied_now:
        _log.info("applied migration %s", name)
    return applied_now
