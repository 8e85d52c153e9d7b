"""PostgreSQL basics every service with tables shares: its schema on the search path, the
schema created when missing, applying its migrations, and (with the kit's bounded
`wait_for_postgres`) what a service does with them at start (`prepare_database`).

Each service keeps its migrations as `migrations/NNN_name.sql`, applied in name order, each in
its own transaction and recorded in a table of that service's own (so services sharing a schema
never mix their records); a file already recorded is skipped, so running them on every start is
safe, and an advisory lock of the service's keeps two replicas starting at once from applying
a file twice."""

from __future__ import annotations

import logging
import select
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from laneway.service.waits import wait_for_postgres

__all__ = [
    "apply_migrations",
    "check_if_ended",
    "connect",
    "connect_kwargs",
    "ensure_schema",
    "open_pool",
    "prepare_database",
    "table_check",
]

_log = logging.getLogger(__name__)


def connect_kwargs(schema: str | None) -> dict[str, Any]:
    """Connection arguments that put `schema` first on the search path."""
    kwargs: dict[str, Any] = {"connect_timeout": 5}
    if schema is not None:
        # the name is checked as an identifier in settings; public stays reachable
        kwargs["options"] = f"-c search_path={schema},public"
    return kwargs


def connect(database_url: str, schema: str | None, *, autocommit: bool = False
            ) -> psycopg.Connection[Any]:
    """One connection with `schema` first on the search path."""
    return psycopg.connect(database_url, autocommit=autocommit, **connect_kwargs(schema))


def check_if_ended(conn: psycopg.Connection[Any]) -> None:
    """A pool's check that costs a round trip only when the connection may be dead: a
    connection PostgreSQL ended (a restart, a terminated or crashed backend) has the reason
    or its end waiting on the socket, while a live, idle one has nothing to read (the pool's
    connections do not LISTEN). Then the full check (`ConnectionPool.check_connection`)
    raises for a dead one, and the pool hands out another. What it cannot see, as the full
    check could, is a backend ended in the moment between this look and the request's
    statement; a caller that reads retries that once (services/worklist/routes.py)."""
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        readable = [True]  # cannot tell: ask the server
    if readable:
        ConnectionPool.check_connection(conn)


def open_pool(database_url: str, schema: str | None, *, max_size: int = 5,
              timeout_s: float = 30.0, autocommit: bool = False,
              check: Callable[[psycopg.Connection[Any]], None] = ConnectionPool.check_connection,
              ) -> ConnectionPool:
    """An open pool on `schema` (one connection at least, waiting at most `timeout_s` for
    it), for a service's HTTP routes. Each connection is checked as it is handed out: after
    PostgreSQL restarts, every pooled connection is dead, and without the check the first
    request on each was a 500 (seen in the chaos run). `check`: the full check by default (a
    round trip on every checkout); `check_if_ended` asks the server only when the socket says
    the connection may be dead."""
    pool = ConnectionPool(database_url, min_size=1, max_size=max_size,
                          kwargs={**connect_kwargs(schema), "autocommit": autocommit},
                          open=False, name=schema or "public", check=check)
    pool.open(wait=True, timeout=timeout_s)
    return pool


def apply_migrations(conn: psycopg.Connection[Any], directory: Path, *, table: str,
                     lock: int) -> list[str]:
    """Apply the `directory`'s migrations not yet recorded in `table`, on `conn`'s schema,
    under the advisory lock `lock`; return the names applied now."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        # an install without the package data would otherwise start with no tables
        raise RuntimeError(f"Expected SQL migrations in {directory}, but there are none")
    record = sql.Identifier(table)
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY,"
                             " applied_at timestamptz NOT NULL DEFAULT now())").format(record))
        done = {row[0] for row in conn.execute(sql.SQL("SELECT name FROM {}").format(record))}
        for path in files:
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8").encode())
                conn.execute(sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(record),
                             (path.name,))
            applied_now.append(path.name)
    for name in applied_now:
        _log.info("applied migration %s", name)
    return applied_now


def ensure_schema(database_url: str, schema: str | None) -> None:
    """Create the schema when one is named and it is missing."""
    if schema is None:
        return
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def prepare_database(database_url: str, schema: str | None,
                     migrate: Callable[[psycopg.Connection[Any]], list[str]],
                     timeout_s: float) -> list[str]:
    """What a service with tables does at start: wait (bounded) for PostgreSQL, create its
    schema if missing, apply its migrations; the names applied now."""
    wait_for_postgres(database_url, timeout_s)
    ensure_schema(database_url, schema)
    with connect(database_url, schema) as conn:
        return migrate(conn)


def table_check(database_url: str, schema: str | None, table: str
                ) -> Callable[[], str | None]:
    """A health check: None while `table` can be read, else what PostgreSQL said."""
    query = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(table))

    def check() -> str | None:
        try:
            with connect(database_url, schema) as conn:
                conn.execute(query)
        except psycopg.Error as exc:
            return f"PostgreSQL: {exc}".strip()
        return None
    return check
