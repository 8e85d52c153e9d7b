"""The services' connection pool against the real PostgreSQL: a connection the server ended
(what a PostgreSQL restart does to every pooled one) is replaced before a request gets it."""

from __future__ import annotations

import psycopg
import pytest

from laneway.db import open_pool
from scripts.stack import Connections

pytestmark = pytest.mark.integration


def test_a_connection_the_server_ended_is_replaced_before_it_is_handed_out(
        stack: Connections) -> None:
    pool = open_pool(stack.database_url, None, max_size=1)
    try:
        with pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        with psycopg.connect(stack.database_url, autocommit=True) as admin:
            ended = admin.execute("SELECT pg_terminate_backend(%s)", (pid[0],)).fetchone()
        assert ended == (True,)

        # the one pooled connection is dead: the request still gets a working one
        with pool.connection() as conn:
            again = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert again is not None
        assert again[0] != pid[0]
    finally:
        pool.close()
