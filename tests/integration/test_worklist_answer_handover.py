"""The projection hands a committed answer to the request waiting for it in the same process
(services/worklist/answers.py `AnswerWaiters.resolve`), with the task's row as the answer's
transaction left it, against the real Kafka and PostgreSQL; a request waiting on another
replica (an `AnswerWaiters` the projection does not know) is still woken by the NOTIFY.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from laneway.health import HealthChecks
from laneway.records import Event, Record, RecordKind
from scripts.stack.testing import unique_name, wait_until
from services.worklist import store
from services.worklist.__main__ import build_consumer
from services.worklist.answers import AnswerWaiters
from services.worklist.app import create_app
from services.worklist.consumer import TaskConsumer
from services.worklist.db import connect
from services.worklist.deps import WorklistDeps
from services.worklist.forms import FieldProblem
from tests.auth import verifier
from tests.integration.test_worklist import (
    BEN,
    CARLA,
    FakeEngine,
    World,
    _contract,
    _created,
    _event,
    _wait_task,
    as_,
    world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["world"]  # the fixture, shared with test_worklist.py

LONG_POLL_S = 600.0  # the fallback look while listening: far beyond any wait here


def _no_forms(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
    return []


def _deaf(world: World) -> AnswerWaiters:
    """Waiters whose listener never connects: nothing but the projection (or a poll) answers."""
    def refused() -> psycopg.Connection[Any]:
        raise psycopg.OperationalError("no listener in this test")
    return AnswerWaiters(refused, fallback_poll_s=LONG_POLL_S, reconnect_s=0.2)


class Projection:
    """The worklist's projection in a thread, handing answers to `answers` (as `__main__`
    builds it), under its own consumer group."""

    def __init__(self, world: World, answers: AnswerWaiters) -> None:
        settings = dataclasses.replace(world.settings, group=unique_name("wl-handover"))
        self.consumer: TaskConsumer = build_consumer(settings, answers=answers)
        self._thread = threading.Thread(target=self.consumer.run, daemon=True,
                                        name="worklist-handover")
        self._thread.start()

    def close(self) -> None:
        self.consumer.stop()
        self._thread.join(30)
        self.consumer.close()


@pytest.fixture
def here(world: World) -> Iterator[AnswerWaiters]:
    """This process's waiting requests, known to the projection."""
    answers = _deaf(world)
    answers.start()
    projection = Projection(world, answers)
    yield answers
    projection.close()
    answers.stop()


def _client(world: World, answers: AnswerWaiters) -> TestClient:
    deps = WorklistDeps(pool=world.pool, publisher=world.publisher, forms=_no_forms,
                        answer_timeout_s=60.0, answers=answers)
    return TestClient(create_app(verifier(), HealthChecks("worklist"), CollectorRegistry(),
                                 deps))


def _open_task(world: World) -> str:
    iid = str(uuid.uuid4())
    world.produce(_created(iid))
    tid = f"{iid}:7"
    _wait_task(world, tid, lambda r: True, "created")
    return tid


def _with_engine(world: World, answer: Callable[[Record], list[Record]],
                 call: Callable[[], Any]) -> Any:
    engine = FakeEngine(world, answer)
    try:
        return call()
    finally:
        engine.close()


def test_an_accepted_answer_is_handed_over_with_the_tasks_row(
        world: World, here: AnswerWaiters) -> None:
    tid = _open_task(world)
    with _client(world, here) as api:
        claimed = _with_engine(world, _contract, lambda: api.post(
            f"/api/tasks/{tid}/claim", headers=as_(CARLA)))
        assert claimed.status_code == 200, claimed.text
        assert here.resolved == 1
        assert here.woken == 0  # nobody listens: the projection answered it
        body = claimed.json()
        assert (body["taskId"], body["state"], body["assignee"]) == (tid, "claimed", "carla")
        # the row handed over is the row the routes read
        assert body == api.get(f"/api/tasks/{tid}", headers=as_(CARLA)).json()


def test_a_rejection_is_handed_over_with_its_reason(world: World,
                                                    here: AnswerWaiters) -> None:
    tid = _open_task(world)
    with _client(world, here) as api:
        refused = _with_engine(world, _contract, lambda: api.post(
            f"/api/tasks/{tid}/claim", headers=as_(BEN)))
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "ben does not hold persona 'Case Worker'"
    assert refused.json()["rejectionType"] == "FORBIDDEN"
    assert here.resolved == 1


def test_a_handed_over_not_found_reads_the_task_it_needs(world: World,
                                                         here: AnswerWaiters) -> None:
    """The engine forgets an ended task (NOT_FOUND); the request reads the row to answer
    409 for a completed one, as when it reads the answer itself."""
    tid = _open_task(world)
    iid = tid.rsplit(":", 1)[0]
    world.produce(_event(Event.USER_TASK_COMPLETED, iid, {"key": 7, "variables": {}},
                         principal=CARLA))
    _wait_task(world, tid, lambda r: r["state"] == "completed", "completed")

    def forgotten(cmd: Record) -> list[Record]:
        return [_event(cmd.intent, cmd.instance_id,
                       {"reason": "no such task", "rejectionType": "NOT_FOUND",
                        "command": dict(cmd.value)},
                       record_id=f"{cmd.record_id}.r0", principal=cmd.principal,
                       kind=RecordKind.REJECTION)]

    with _client(world, here) as api:
        again = _with_engine(world, forgotten, lambda: api.post(
            f"/api/tasks/{tid}/complete", json={"variables": {}}, headers=as_(CARLA)))
    assert again.status_code == 409, again.text
    assert again.json()["rejectionType"] == "INVALID_STATE"
    assert here.resolved == 1


def test_a_request_on_another_replica_is_still_woken_by_the_notify(
        world: World, here: AnswerWaiters) -> None:
    schema = world.settings.database_schema
    elsewhere = AnswerWaiters(lambda: connect(world.conns.database_url, schema),
                              fallback_poll_s=LONG_POLL_S, reconnect_s=0.2)
    elsewhere.start()
    try:
        wait_until(lambda: elsewhere.listening, 15, 0.02, "the other replica listening")
        tid = _open_task(world)
        with _client(world, elsewhere) as api:
            claimed = _with_engine(world, _contract, lambda: api.post(
                f"/api/tasks/{tid}/claim", headers=as_(CARLA)))
    finally:
        elsewhere.stop()
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["state"] == "claimed"
    assert elsewhere.woken >= 1
    assert (here.resolved, elsewhere.resolved) == (0, 0)


def test_an_answer_that_changed_no_row_wakes_the_request_to_read_it(
        world: World, here: AnswerWaiters) -> None:
    """An accepting event whose UPDATE changed nothing (read again after a crash; here, a
    task the worklist does not hold) is not NOTIFYed for a request of this process: the
    projection wakes the request, which reads the answer itself."""
    command_id = str(uuid.uuid4())
    waiter = here.register(command_id)
    assert waiter is not None
    try:
        iid = str(uuid.uuid4())  # no such task
        world.produce(_event(Event.USER_TASK_CLAIMED, iid, {"key": 7, "assignee": "carla"},
                             record_id=f"{command_id}.0", principal=CARLA))
        wait_until(waiter.is_set, 20, 0.02, "the request woken")
        assert waiter.answered is None
        assert here.resolved == 0
        with world.pool.connection() as conn:
            found = store.answer_and_task(conn, command_id, f"{iid}:7")
        assert found is not None
        assert found[0].outcome == "accepted"
        assert found[1] is None
    finally:
        here.forget(command_id)
