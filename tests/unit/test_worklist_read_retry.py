"""The task routes (services/worklist/routes.py `_read`) and the form check
(services/worklist/forms.py) read once more when a read fails on a connection the server ended
after the pool's look (`laneway.db.check_if_ended`), and never twice for a pool with nothing to
give."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from services.worklist import routes
from services.worklist.forms import registry_checker


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


class FlakyForms:
    """A form registry whose reads fail `failures` times first."""

    def __init__(self, failures: int, error: type[Exception] = psycopg.OperationalError
                 ) -> None:
        self.failures = failures
        self.error = error
        self.reads = 0

    def get(self, form_id: str) -> dict[str, Any] | None:
        self.reads += 1
        if self.failures:
            self.failures -= 1
            raise self.error("server closed the connection unexpectedly")
        return {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}


def test_the_form_registry_is_read_once_more_too() -> None:
    forms = FlakyForms(failures=1)
    check = registry_checker(forms)  # type: ignore[arg-type]
    assert check("f", {"ok": True}) == []
    assert forms.reads == 2
    with pytest.raises(psycopg.OperationalError):
        registry_checker(FlakyForms(failures=2))("f", {"ok": True})  # type: ignore[arg-type]
    timeout = FlakyForms(failures=1, error=PoolTimeout)
    with pytest.raises(PoolTimeout):
        registry_checker(timeout)("f", {"ok": True})  # type: ignore[arg-type]
    assert timeout.reads == 1
