"""`laneway.db.check_if_ended` against the real PostgreSQL: a live pooled connection is
handed out without a round trip, one the server ended is replaced before a request gets it."""

from __future__ import annotations

import select
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from laneway.db import check_if_ended, open_pool
from scripts.stack import Connections
from scripts.stack.testing import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the full check (a round trip) ran."""
    seen: list[int] = []
    real = ConnectionPool.check_connection

    def counting(conn: psycopg.Connection[Any]) -> None:
        seen.append(1)
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    return seen


def _readable(conn: psycopg.Connection[Any]) -> bool:
    return bool(select.select([conn.fileno()], [], [], 0)[0])


def test_a_live_connection_is_handed_out_without_a_round_trip(
        stack: Connections, round_trips: list[int]) -> None:
    pool = open_pool(stack.database_url, None, max_size=1, autocommit=True,
                     check=check_if_ended)
    try:
        for _ in range(5):
            with pool.connection() as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert round_trips == []
    finally:
        pool.close()


def test_a_connection_the_server_ended_is_replaced(stack: Connections,
                                                   round_trips: list[int]) -> None:
    pool = open_pool(stack.database_url, None, max_size=1, autocommit=True,
                     check=check_if_ended)
    try:
        with pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            pooled = conn
        assert pid is not None
        with psycopg.connect(stack.database_url, autocommit=True) as admin:
            ended = admin.execute("SELECT pg_terminate_backend(%s)", (pid[0],)).fetchone()
        assert ended == (True,)
        # what the server sends as it ends the backend reaches the pooled connection's socket
        wait_until(lambda: _readable(pooled), 10, 0.01, "the ended connection's socket")

        with pool.connection() as conn:
            again = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert again is not None
        assert again[0] != pid[0]
        assert len(round_trips) >= 1  # the dead one was asked, and failed
    finally:
        pool.close()
