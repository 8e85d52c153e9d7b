"""PostgreSQL for the worklist service: connections on the shared schema and its migrations.

The worklist's tables (`tasks`, `task_commands`) live in the same database and schema as the
other services' (`LANEWAY_DB_SCHEMA`), because the API (the definitions service) serves the
task routes from them. Migrations are `migrations/NNN_name.sql`, applied in name order, each
in its own transaction and recorded in `worklist_schema_migrations` (the service's own table,
so it never mixes with another service's migrations); an advisory lock keeps two replicas
starting at once from applying a file twice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg

from laneway.db import connect_kwargs

__all__ = ["MIGRATIONS_DIR", "connect", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only worklist replicas share it.
_MIGRATION_LOCK = 0x574B4C53  # "WKLS"

_log = logging.getLogger(__name__)


def connect(database_url: str, schema: str | None, *, autocommit: bool = False
            ) -> psycopg.Connection[Any]:
    """One connection on the worklist's schema."""
    return psycopg.connect(database_url, autocommit=autocommit, **connect_kwargs(schema))


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not applied yet, on `conn`'s schema; return their names."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        # an install without the package data would otherwise run with no tables
        raise RuntimeError(f"Expected SQL migrations in {directory}, but there are none")
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS worklist_schema_migrations ("
            " name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM worklist_schema_migrations")}
        for path in files:
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8").encode())
                conn.execute("INSERT INTO worklist_schema_migrations (name) VALUES (%s)",
                             (path.name,))
            applied_now.append(path.name)
    for name in applied_now:
        _log.info("applied migration %s", name)
    return applied_now
