"""The task routes are woken by the projection's NOTIFY when the engine's answer is committed
(services/worklist/answers.py), against the real Kafka and PostgreSQL: with the fallback poll
far longer than the request's wait, only the notification can answer it before its deadline;
with nobody listening, the request polls; an unanswered command is still a 504.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from laneway.health import HealthChecks
from laneway.records import Event, Record
from scripts.stack.testing import wait_until
from services.worklist import store
from services.worklist.answers import AnswerWaiters
from services.worklist.app import create_app
from services.worklist.db import connect
from services.worklist.deps import WorklistDeps
from services.worklist.forms import FieldProblem
from tests.auth import verifier
from tests.integration.test_worklist import (
    CARLA,
    FakeEngine,
    World,
    _contract,
    _created,
    _event,
    _wait_task,
    as_,
    projection,
    world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["projection", "world"]  # the fixtures, shared with test_worklist.py

LONG_POLL_S = 600.0  # the fallback look: far beyond any wait here
WAIT_S = 60.0  # the request's deadline


def _no_forms(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
    return []


def _client(world: World, answers: AnswerWaiters, wait_s: float = WAIT_S) -> TestClient:
    deps = WorklistDeps(pool=world.pool, publisher=world.publisher, forms=_no_forms,
                        answer_timeout_s=wait_s, answers=answers)
    return TestClient(create_app(verifier(), HealthChecks("worklist"), CollectorRegistry(),
                                 deps))


def _waiters(world: World, connect_: Callable[[], psycopg.Connection[Any]] | None = None
             ) -> AnswerWaiters:
    schema = world.settings.database_schema
    return AnswerWaiters(connect_ or (lambda: connect(world.conns.database_url, schema)),
                         fallback_poll_s=LONG_POLL_S, reconnect_s=0.2)


@pytest.fixture
def listening(world: World) -> Iterator[AnswerWaiters]:
    answers = _waiters(world)
    answers.start()
    wait_until(lambda: answers.listening, 15, 0.02, "the answer listener listening")
    yield answers
    answers.stop()


def _open_task(world: World) -> str:
    iid = str(uuid.uuid4())
    world.produce(_created(iid))
    tid = f"{iid}:7"
    _wait_task(world, tid, lambda r: True, "created")
    return tid


def _once_waiting(answers: AnswerWaiters) -> Callable[[Record], list[Record]]:
    """The contract's answer, produced only once the request sleeps on its event: its first
    look cannot have found the answer, so what ends its sleep is the notification (or, with
    nobody listening, its poll)."""
    def answer(cmd: Record) -> list[Record]:
        wait_until(lambda: answers.sleeping >= 1, 30, 0.01, "the request waiting")
        return _contract(cmd)
    return answer


def test_the_projections_notify_wakes_the_request_before_any_poll(
        world: World, projection: Any, listening: AnswerWaiters) -> None:
    tid = _open_task(world)
    engine = FakeEngine(world, _once_waiting(listening))
    try:
        with _client(world, listening) as api:
            began = time.monotonic()
            claimed = api.post(f"/api/tasks/{tid}/claim", headers=as_(CARLA))
            took = time.monotonic() - began
    finally:
        engine.close()
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["state"] == "claimed"
    # the only look after the first is the fallback (600 s) or the deadline (60 s): an answer
    # before the deadline was woken by the notification
    assert took < WAIT_S, f"Expected the notification to wake the request, but it took {took}s"
    assert listening.woken >= 1


def test_without_a_listener_the_request_polls(world: World, projection: Any) -> None:
    def refused() -> psycopg.Connection[Any]:
        raise psycopg.OperationalError("no listener in this test")

    deaf = _waiters(world, refused)
    deaf.start()
    try:
        tid = _open_task(world)
        engine = FakeEngine(world, _once_waiting(deaf))
        try:
            with _client(world, deaf) as api:
                began = time.monotonic()
                claimed = api.post(f"/api/tasks/{tid}/claim", headers=as_(CARLA))
                took = time.monotonic() - began
        finally:
            engine.close()
    finally:
        deaf.stop()
    assert not deaf.listening
    assert claimed.status_code == 200, claimed.text
    assert took < WAIT_S, f"Expected the request to poll while nobody listens, took {took}s"
    assert deaf.woken == 0


def test_an_unanswered_command_is_still_a_504(world: World, projection: Any,
                                              listening: AnswerWaiters) -> None:
    tid = _open_task(world)
    engine = FakeEngine(world, _contract)  # unclaims are not answered
    try:
        with _client(world, listening, wait_s=0.5) as api:
            silent = api.post(f"/api/tasks/{tid}/unclaim", headers=as_(CARLA))
        assert silent.status_code == 504, silent.text
        # the command went out (the fake engine reads it, maybe after the 504)
        wait_until(lambda: silent.json()["commandId"] in {c.record_id for c in engine.seen},
                   30, 0.02, "the unanswered command on commands")
    finally:
        engine.close()


def test_the_answer_comes_with_the_tasks_row_of_the_same_commit(
        world: World, projection: Any) -> None:
    """One query gives the request the answer and the task as that answer left it (the
    route's 200 body), nothing before the answer, and no row for a task that is not there."""
    tid = _open_task(world)
    iid = tid.rsplit(":", 1)[0]
    command_id = str(uuid.uuid4())
    with world.pool.connection() as conn:
        assert store.answer_and_task(conn, command_id, tid) is None
    world.produce(_event(Event.USER_TASK_CLAIMED, iid, {"key": 7, "assignee": "carla"},
                         record_id=f"{command_id}.0", principal=CARLA))
    found = wait_until(lambda: _answer_and_task(world, command_id, tid), 20, 0.02,
                       "the claim's answer")
    answer, row = found
    assert answer.outcome == "accepted"
    assert row is not None
    assert row["state"] == "claimed"
    assert row["assignee"] == "carla"
    with world.pool.connection() as conn:
        assert row == store.get_task(conn, tid)  # the task's columns and values, no answer's
    missing = wait_until(lambda: _answer_and_task(world, command_id, f"{iid}:8"), 5, 0.02,
                         "the answer again")
    assert missing[1] is None


def _answer_and_task(world: World, command_id: str, tid: str
                     ) -> tuple[store.Answer, dict[str, Any] | None] | None:
    with world.pool.connection() as conn:
        return store.answer_and_task(conn, command_id, tid)
