"""The task routes read once more when a read fails on a connection the server ended after
the pool's look (services/worklist/routes.py `_read`, beside `laneway.db.check_if_ended`),
and never twice for a pool with nothing to give."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from services.worklist import routes


class FakePool:
    """Hands out connections whose reads fail `failures` times first."""

    def __init__(self, failures: int, error: type[Exception] = psycopg.OperationalError
                 ) -> None:
        self.failures = failures
        self.error = error
        self.handed = 0

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        self.handed += 1
        yield self

    def read(self) -> str:
        if self.failures:
            self.failures -= 1
            raise self.error("server closed the connection unexpectedly")
        return "row"


def test_a_read_on_an_ended_connection_is_done_once_more() -> None:
    pool = FakePool(failures=1)
    assert routes._read(pool, lambda conn: conn.read()) == "row"  # type: ignore[arg-type]
    assert pool.handed == 2


def test_a_second_failure_is_the_callers() -> None:
    pool = FakePool(failures=2)
    with pytest.raises(psycopg.OperationalError):
        routes._read(pool, lambda conn: conn.read())  # type: ignore[arg-type]
    assert pool.handed == 2


def test_a_pool_with_nothing_to_give_is_not_asked_twice() -> None:
    pool = FakePool(failures=1, error=PoolTimeout)
    with pytest.raises(PoolTimeout):
        routes._read(pool, lambda conn: conn.read())  # type: ignore[arg-type]
    assert pool.handed == 1
