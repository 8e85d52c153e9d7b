"""PostgreSQL for the definitions service: the connection pool and the migrations (the bounded
wait for the server at start is the kit's, `laneway.service.wait_for_postgres`).

Its migrations are recorded in `schema_migrations` (`laneway.db.apply_migrations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from laneway.db import apply_migrations, ensure_schema
from laneway.db import open_pool as open_schema_pool
from services.definitions.settings import DefinitionsSettings

__all__ = ["MIGRATIONS_DIR", "migrate", "migrate_on", "open_pool"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the lock only has to be the same for every replica of this service.
_MIGRATION_LOCK = 0x4C414E45  # "LANE"


def open_pool(settings: DefinitionsSettings) -> ConnectionPool:
    """An open pool on the service's schema (created if missing)."""
    ensure_schema(settings.common.database_url, settings.database_schema)
    return open_schema_pool(settings.common.database_url, settings.database_schema,
                            max_size=settings.pool_size,
                            timeout_s=settings.common.startup_timeout_s)


def migrate(pool: ConnectionPool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the service's migrations not applied yet; return their names."""
    with pool.connection() as conn:
        return migrate_on(conn, directory)


def migrate_on(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """`migrate` on one connection (on the service's schema): the chart's migration Job
    (`python -m services.migrate`) has no pool."""
    return apply_migrations(conn, directory, table="schema_migrations", lock=_MIGRATION_LOCK)
