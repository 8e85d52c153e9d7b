"""PostgreSQL: the connection pool, the migrations, and waiting for the server at start.

Migrations are the files `migrations/NNN_name.sql`, applied in name order, each in its own
transaction with its name recorded in `schema_migrations`; a file already recorded is skipped,
so running them on every start is safe. An advisory lock keeps two replicas starting at once
from applying the same file twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from psycopg_pool import ConnectionPool

from laneway.db import DatabaseUnavailable, connect_kwargs, ensure_schema, wait_for_database
from services.definitions.settings import DefinitionsSettings

__all__ = ["MIGRATIONS_DIR", "DatabaseUnavailable", "migrate", "open_pool", "wait_for_database"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the lock only has to be the same for every replica of this service.
_MIGRATION_LOCK = 0x4C414E45  # "LANE"

_log = logging.getLogger(__name__)





def open_pool(settings: DefinitionsSettings) -> ConnectionPool:
    """An open pool on the service's schema (created if missing)."""
    ensure_schema(settings.common.database_url, settings.database_schema)
    pool = ConnectionPool(
        settings.common.database_url,
        min_size=1,
        max_size=settings.pool_size,
        kwargs=connect_kwargs(settings.database_schema),
        open=False,
        name="definitions",
    )
    pool.open(wait=True, timeout=settings.common.startup_timeout_s)
    return pool


def migrate(pool: ConnectionPool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not applied yet; return their names."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        # an install without the package data would otherwise start with no tables
        raise RuntimeError(f"Expected SQL migrations in {directory}, but there are none")
    applied_now: list[str] = []
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for path in files:
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8").encode())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)",
                             (path.name,))
            applied_now.append(path.name)
    for name in applied_now:
        _log.info("applied migration %s", name)
    return applied_now
