"""The instance projection writes a batch of snapshots with one statement
(services.audit.instances.upsert_instances, arrays unnested): each snapshot is weighed against
the row as the snapshots before it in the batch left it, as one statement per snapshot did —
an instance twice in a batch, a repartitioned topic, a stale snapshot, NULL business keys and
every column's value come back as written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from scripts.stack import Connections
from services.audit.db import connect
from services.audit.instances import InstanceUpsert, upsert_instances
from tests.integration.test_audit import _migrated_schema

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def schema(stack: Connections) -> Iterator[str]:
    name = _migrated_schema(stack)
    yield name
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _snap(iid: str, partition: int, offset: int, *, status: str = "ACTIVE",
          business_key: str | None = None, variables: dict[str, Any] | None = None
          ) -> InstanceUpsert:
    return InstanceUpsert(iid, "p", 3, business_key, status, ["t", "é"],
                          variables if variables is not None else {"n": offset},
                          [{"id": f"{iid}:9", "key": 9, "elementId": None}],
                          T0 + timedelta(milliseconds=offset), partition, offset)


def _row(conn: psycopg.Connection[Any], iid: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT process_id, version, business_key, status, active_elements, variables, "
        "incidents, updated_at, last_partition, last_offset FROM instances "
        "WHERE instance_id = %s", (iid,)).fetchone()


def test_a_batch_is_weighed_snapshot_by_snapshot(stack: Connections, schema: str) -> None:
    with connect(stack.database_url, schema) as conn, conn.transaction():
        assert upsert_instances(conn, []) == 0
        # an instance twice in one batch, the later one last: both change the row
        assert upsert_instances(conn, [_snap("a", 0, 5), _snap("b", 1, 2, business_key="k"),
                                       _snap("a", 0, 7, status="COMPLETED")]) == 3
        assert _row(conn, "a") == ("p", 3, None, "COMPLETED", ["t", "é"], {"n": 7},
                                   [{"id": "a:9", "key": 9, "elementId": None}],
                                   T0 + timedelta(milliseconds=7), 0, 7)
        assert _row(conn, "b") is not None
        assert _row(conn, "b")[2] == "k"  # type: ignore[index]
        # stale: an older offset of the same partition changes nothing, in a batch or not
        assert upsert_instances(conn, [_snap("a", 0, 6), _snap("a", 0, 7)]) == 0
        assert _row(conn, "a")[9] == 7  # type: ignore[index]
        # a repartitioned topic: each snapshot of another partition than the row's is kept,
        # in the batch's order, as one statement per snapshot kept it
        assert upsert_instances(conn, [_snap("a", 1, 3), _snap("a", 0, 2),
                                       _snap("a", 0, 1)]) == 2
        assert _row(conn, "a")[8:] == (0, 2)  # type: ignore[index]
        # the projection's whole batch: many instances, one statement
        many = [_snap(f"m{n}", n % 4, n, variables={"x": n, "s": "é\n", "f": 1.5})
                for n in range(300)]
        assert upsert_instances(conn, many) == 300
        assert _row(conn, "m299")[5] == {"x": 299, "s": "é\n", "f": 1.5}  # type: ignore[index]
