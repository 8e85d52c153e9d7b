"""Conditional starts from outside against the real Kafka and PostgreSQL: `POST
/api/conditions` through the edge, the real engine loop on the same topics, and what it wrote.

An instance starts at a conditional start event whose condition holds for the variables sent;
when none holds the API still answers 202 (the engine decides asynchronously) and the engine
rejects the command NOT_FOUND in the event log, under the command id the API returned.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from laneway.codec import decode_record
from laneway.records import RecordKind
from laneway.settings import Settings
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.engine.loop import EngineLoop
from services.engine.settings import EngineSettings
from tests.auth import auth_header
from tests.integration.api_harness import Api, running_api
from tests.integration.test_api import read_topic
from tests.lifecycle import AUTHOR, authorize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STARTER = auth_header("stan", roles=[])
OPERATOR = auth_header("olga", roles=["operator"])
CONDITIONAL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d_{pid}" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="big_order">
      <conditionalEventDefinition>
        <condition xsi:type="tFormalExpression">=amount &gt; 100</condition>
      </conditionalEventDefinition>
    </startEvent>
    <userTask id="review"/>
    <endEvent id="done"/>
    <sequenceFlow id="f1" sourceRef="big_order" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
  </process>
</definitions>
"""


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.cond", Api, headers=AUTHOR) as api:
        yield api


@pytest.fixture(scope="module")
def engine(api: Api) -> Iterator[None]:
    """The real engine loop on the API's topics, in a thread."""
    common = dataclasses.replace(
        Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS":
                                     api.conns.kafka_bootstrap_servers}),
        topic_prefix=api.settings.topic_prefix, startup_timeout_s=30.0, http_port=1)
    loop = EngineLoop(EngineSettings(common=common, replica="r1",
                                     group=unique_name("cond-engine"), batch_size=500,
                                     poll_timeout_s=0.05, definitions_wait_s=5.0,
                                     restore_timeout_s=30.0))
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True, name="engine")
    thread.start()
    yield None
    loop.stop()
    thread.join(30)
    assert failed == [], f"Expected the engine loop to run cleanly, but: {failed}"


def _deployed(api: Api) -> str:
    pid = f"p_{uuid.uuid4().hex[:10]}"
    response = api.client.post("/api/definitions", content=CONDITIONAL.format(pid=pid),
                               headers={"content-type": "application/xml"})
    assert response.status_code in (200, 201), response.text
    authorize(api.client, pid, 1)
    return pid


def _instances(api: Api, pid: str) -> list[dict[str, Any]]:
    answer = api.client.get("/api/instances", params={"processId": pid}, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_an_instance_starts_where_the_condition_holds(api: Api, engine: None) -> None:
    pid = _deployed(api)
    answer = api.client.post("/api/conditions", json={
        "variables": {"amount": 500}, "processId": pid}, headers=STARTER)
    assert answer.status_code == 202, answer.text
    # the engine waits for `definitions` to catch up with a process it has not seen
    [instance] = wait_until(lambda: _instances(api, pid), 60, 0.1, "the instance projected")
    detail = api.client.get(f"/api/instances/{instance['instanceId']}", headers=OPERATOR)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["variables"] == {"amount": 500}
    assert body["activeElements"] == ["review"]


def test_no_condition_holding_is_202_then_a_rejection_in_the_log(api: Api,
                                                                  engine: None) -> None:
    pid = _deployed(api)
    answer = api.client.post("/api/conditions", json={
        "variables": {"amount": 5}, "processId": pid}, headers=STARTER)
    assert answer.status_code == 202, answer.text
    command_id = answer.json()["commandId"]

    def rejection(records: list[tuple[str, bytes | None, int, int]]) -> Any:
        for key, value, _, _ in records:
            if key == command_id and value is not None:
                rec = decode_record(value)
                if rec.kind == RecordKind.REJECTION:
                    return rec
        return None

    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.events, rejection,
                         timeout=60)
    found = rejection(records)
    assert found.intent == "EVALUATE_CONDITIONS"
    assert found.value["rejectionType"] == "NOT_FOUND"
    assert pid in found.value["reason"]
    assert found.principal is not None
    assert found.principal.id == "stan"
    assert _instances(api, pid) == []


@pytest.mark.parametrize(("body", "status"), [
    (b'{"variables": {"amount": 1}, "processId": "no_such_process"}', 404),
    (b'{"variables": "not an object"}', 422),
    (b'{"variables": {"a": Infinity}}', 422),
    (b'{"processId": ""}', 422),
    (b'{"variables": {"big": "' + b"x" * 2_000_000 + b'"}}', 413),
    (b"[1, 2", 422),
])
def test_bad_input_is_a_4xx_problem(api: Api, body: bytes, status: int) -> None:
    answer = api.client.post("/api/conditions", content=body,
                             headers={**STARTER, "content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_token_is_needed(api: Api) -> None:
    answer = api.client.post("/api/conditions", json={"variables": {}},
                             headers={"Authorization": ""})
    assert answer.status_code == 401, answer.text
