"""PostgreSQL basics every service with tables shares: its schema on the search path, the
schema created when missing, and waiting for the server at start."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["DatabaseUnavailable", "connect_kwargs", "ensure_schema", "wait_for_database"]


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer within the startup bound. Retryable: start again later."""


def connect_kwargs(schema: str | None) -> dict[str, Any]:
    """Connection arguments that put `schema` first on the search path."""
    kwargs: dict[str, Any] = {"connect_timeout": 5}
    if schema is not None:
        # the name is checked as an identifier in settings; public stays reachable
        kwargs["options"] = f"-c search_path={schema},public"
    return kwargs


def ensure_schema(database_url: str, schema: str | None) -> None:
    """Create the schema when one is named and it is missing."""
    if schema is None:
        return
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def wait_for_database(database_url: str, timeout_s: float) -> None:
    """Return once PostgreSQL accepts a connection; raise DatabaseUnavailable after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.5)  # between connection attempts at start, not a test wait
    raise DatabaseUnavailable(
        f"Expected PostgreSQL to answer within {timeout_s:.0f}s, but it did not: {last}"
    )
