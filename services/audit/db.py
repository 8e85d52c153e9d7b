"""PostgreSQL for the audit service: connections on its schema and its migrations (the bounded
wait at start is the kit's, through `laneway.db.prepare_database`).

Its migrations are recorded in `audit_schema_migrations` (`laneway.db.apply_migrations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from laneway.db import apply_migrations, connect, connect_kwargs, ensure_schema, open_pool

__all__ = [
    "MIGRATIONS_DIR",
    "connect",
    "connect_kwargs",
    "ensure_schema",
    "migrate",
    "open_pool",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only audit replicas share it.
_MIGRATION_LOCK = 0x41554454  # "AUDT"


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the audit's migrations not applied yet, on `conn`'s schema; their names."""
    return apply_migrations(conn, directory, table="audit_schema_migrations",
                            lock=_MIGRATION_LOCK)
