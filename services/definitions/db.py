"""PostgreSQL: the connection pool, the migrations, and waiting for the server at start.

Migrations are the files `migrations/NNN_name.sql`, applied in name order, each in its own
transaction with its name recorded in `schema_migrations`; a file already recorded is skipped,
so running them on every start is safe. An advisory lock keeps two replicas starting at once
from applying the same file twice.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from services.definitions.settings import DefinitionsSettings

__all__ = ["MIGRATIONS_DIR", "DatabaseUnavailable", "migrate", "open_pool", "wait_for_database"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the lock only has to be the same for every replica of this service.
_MIGRATION_LOCK = 0x4C414E45  # "LANE"

_log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer within the startup bound. Retryable: start again later."""


def _connect_kwargs(settings: DefinitionsSettings) -> dict[str, object]:
    kwargs: dict[str, object] = {"connect_timeout": 5}
    if settings.database_schema is not None:
        # the schema name is checked as an identifier in settings; public stays reachable
        # for extensions
        kwargs["options"] = f"-c search_path={settings.database_schema},public"
    return kwargs


def wait_for_database(settings: DefinitionsSettings, timeout_s: float) -> None:
    """Return once PostgreSQL accepts a connection; raise DatabaseUnavailable after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(settings.common.database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.5)
    raise DatabaseUnavailable(
        f"Expected PostgreSQL to answer within {timeout_s:.0f}s, but it did not: {last}"
    )


def open_pool(settings: DefinitionsSettings) -> ConnectionPool:
    """An open pool on the service's schema (created if missing)."""
    if settings.database_schema is not None:
        with psycopg.connect(settings.common.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(settings.database_schema)))
    pool = ConnectionPool(
        settings.common.database_url,
        min_size=1,
        max_size=settings.pool_size,
        kwargs=_connect_kwargs(settings),
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
