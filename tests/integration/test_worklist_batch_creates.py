"""A run of USER_TASK_CREATED records is written as one multi-row INSERT
(services/worklist/projection.py `_insert_created`): against the real PostgreSQL, the rows are
the ones a statement per record wrote, a creation read twice keeps its first row, and the
records after a run (a claim of a task created in it) still apply after it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from laneway.records import Event
from services.worklist import projection as proj
from services.worklist import store
from tests.integration.test_worklist import CARLA, World, _created, _event, world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

__all__ = ["world"]  # the fixture, shared with test_worklist.py


def _task(world: World, tid: str) -> dict[str, Any] | None:
    with world.pool.connection() as conn:
        return store.get_task(conn, tid)


def test_a_run_of_creations_is_written_in_order_once(world: World) -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    first = _created(a, candidateUsers=["carla"], candidateGroups="finance", dueDate=60_000)
    again = _created(a, elementName="read again, ignored")
    batch = [(first, 0, 10), (_created(b), 1, 10), (again, 0, 11),
             (_event(Event.USER_TASK_CLAIMED, a, {"key": 7, "assignee": "carla"},
                     principal=CARLA), 0, 12),
             (_created(c), 2, 10)]
    with world.pool.connection() as conn, conn.transaction():
        assert proj.apply_records(conn, batch) == 5
    one_by_one = str(uuid.uuid4())
    with world.pool.connection() as conn, conn.transaction():
        proj.apply_record(conn, _created(one_by_one, candidateUsers=["carla"],
                                         candidateGroups="finance", dueDate=60_000), 0, 10)
    row_a, row_b, row_c = (_task(world, f"{i}:7") for i in (a, b, c))
    assert row_a is not None
    assert row_b is not None
    assert row_c is not None
    # the claim after the run applied to the row the run created
    assert row_a["state"] == "claimed"
    assert row_a["assignee"] == "carla"
    # the second creation changed nothing; the rest is what a statement per record writes
    assert row_a["element_name"] == "Review the claim"
    single = _task(world, f"{one_by_one}:7")
    assert single is not None
    same = {k for k in single if k not in ("task_id", "instance_id", "created_at",
                                           "state", "assignee", "claimed_at")}
    assert {k: row_a[k] for k in same} == {k: single[k] for k in same}
    assert row_b["state"] == row_c["state"] == "open"
