"""PostgreSQL for the triggers service: connections on its own schema (`triggers`, or
`<LANEWAY_DB_SCHEMA>_triggers`) and its migrations, recorded in
`triggers_schema_migrations`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from laneway.db import apply_migrations, connect

__all__ = ["MIGRATIONS_DIR", "connect", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number, distinct from the other services' locks: only triggers replicas share it.
_MIGRATION_LOCK = 0x54524753  # "TRGS"


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the triggers' migrations not applied yet, on `conn`'s schema; their names."""
    return apply_migrations(conn, directory, table="triggers_schema_migrations",
                            lock=_MIGRATION_LOCK)
