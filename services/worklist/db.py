"""PostgreSQL for the worklist service: connections on its own schema and its migrations (the
bounded wait at start is the kit's, through `laneway.db.prepare_database`).

The worklist's tables (`tasks`, `task_commands`) live in its own schema (`worklist`, or
`<LANEWAY_DB_SCHEMA>_worklist`; `laneway.service_schemas`). Its migrations are recorded in
`worklist_schema_migrations` (`laneway.db.apply_migrations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from laneway.db import apply_migrations, connect

__all__ = ["MIGRATIONS_DIR", "connect", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only worklist replicas share it.
_MIGRATION_LOCK = 0x574B4C53  # "WKLS"


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the worklist's migrations not applied yet, on `conn`'s schema; their names."""
    return apply_migrations(conn, directory, table="worklist_schema_migrations",
                            lock=_MIGRATION_LOCK)
