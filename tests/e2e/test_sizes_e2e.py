"""Size limits through the whole running Laneway (issue 10, item 2): the public URL refuses
variables over the limit with 413; the engine service refuses a command that would take an
instance's state over the record limit, and the instance goes on; a raw command over the
record limit goes to the dead-letter topic while the engine carries on."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from laneway.codec import encode_record, read_dead_letter_headers
from laneway.kafka import consumer_config, producer_config
from laneway.records import Command, Principal, PrincipalKind, Record, RecordKind
from scripts.stack.testing import unique_name, wait_until
from tests.auth import ADMIN
from tests.e2e.harness import Laneway, TopicReader, command_record, is_done, of, send

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ANA = Principal(PrincipalKind.HUMAN, "ana", ("clerk",))
DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/><userTask id="one"/>
    <intermediateCatchEvent id="pause"><timerEventDefinition>
      <timeDuration>PT0.2S</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="one"/>
    <sequenceFlow id="f2" sourceRef="one" targetRef="pause"/>
    <sequenceFlow id="f3" sourceRef="pause" targetRef="e"/>
  </process>
</definitions>"""


def first(predicate: Callable[[Record], bool]) -> Callable[[list[Record]], Record | None]:
    return lambda recs: next((r for r in recs if predicate(r)), None)


def test_sizes_are_refused_where_they_are_made_and_nothing_stops(
        laneway: Callable[..., Laneway]) -> None:
    # a record limit of 200 kB, so two commands of 110 kB and 100 kB outgrow a snapshot
    lw = laneway(("engine", "definitions", "audit"),
                 env_overrides={"LANEWAY_MAX_RECORD_BYTES": "200000"})
    pid = unique_name("sizes").replace("-", "_")
    lw.deploy(DIAGRAM.format(pid=pid).encode())
    events = TopicReader(lw.bootstrap, lw.topics.events)
    producer = lw.producer()
    # through the edge: a body over nginx's memory buffer is buffered to a file by its workers
    # (www-data under root), which once could not enter pytest's private folder (a 500)
    with httpx.Client(base_url=lw.public_url, timeout=30, headers=ADMIN) as direct:
        # variables over 256 KiB are 413 with a problem body
        for _ in range(2):
            refused = direct.post("/api/messages", json={
                "name": "docs", "correlationKey": "k", "variables": {"b": "x" * 600 * 1024}})
            assert refused.status_code == 413, refused.text
            assert refused.headers["content-type"] == "application/problem+json"

        started = direct.post("/api/instances", json={"processId": pid,
                                                   "variables": {"a": "x" * 110_000}})
        assert started.status_code == 201, started.text
        iid = started.json()["instanceId"]
    with lw.api() as api:
        task = events.wait_for(first(lambda r: r.instance_id == iid
                                     and r.intent == "USER_TASK_CREATED"), 60, "the task")

        # a raw command over the record limit, straight to `commands` (compressed, so the
        # topic takes it): dead-lettered, and the engine goes on
        big = Producer({**producer_config(lw.bootstrap), "message.max.bytes": 10_000_000})
        huge = command_record(Command.START_INSTANCE, unique_name("huge"), {
            "processId": pid, "variables": {"blob": "x" * 300_000}})
        big.produce(lw.topics.commands, encode_record(huge), huge.instance_id.encode())
        assert big.flush(10) == 0

        # within the variables limit, but the instance's state would be over the record limit
        send(producer, lw.topics, command_record(Command.COMPLETE_USER_TASK, iid, {
            "taskKey": task.value["key"], "variables": {"b": "y" * 50_000, "c": "z" * 50_000}},
            ANA))
        rejection = events.wait_for(first(lambda r: r.instance_id == iid
                                          and r.kind == RecordKind.REJECTION), 60, "rejection")
        assert rejection.value["rejectionType"] == "EXCEEDED_SIZE"

        # the instance is where it was: the task completes with less, and it runs to its end
        send(producer, lw.topics, command_record(Command.COMPLETE_USER_TASK, iid, {
            "taskKey": task.value["key"], "variables": {"b": "small"}}, ANA))
        events.wait_for(lambda recs: any(is_done(r) for r in of(recs, iid)), 60, "completed")

        def projected() -> dict[str, object] | None:
            response = api.get(f"/api/instances/{iid}")
            body: dict[str, object] | None = response.json() if response.is_success else None
            return body if body is not None and body["status"] == "COMPLETED" else None
        body = wait_until(projected, 30, 0.1, "COMPLETED in the API")
        assert body["variables"] == {"a": "x" * 110_000, "b": "small"}

    dlq = Consumer(consumer_config(lw.bootstrap, unique_name("e2e-dlq")))
    try:
        dlq.assign([TopicPartition(lw.topics.dlq, 0, OFFSET_BEGINNING)])
        # a list: a Message without a value (as this dead letter is) is falsy
        [dead] = wait_until(lambda: [m for m in dlq.consume(10, timeout=0.2)
                                     if m.error() is None], 30, 0, "the dead letter")
        assert dead.value() is None
        headers = read_dead_letter_headers(dead.headers() or [])
        assert headers["reason"] == "too-large"
        assert headers["topic"] == lw.topics.commands
    finally:
        dlq.close()
    assert of(events.poll(), huge.instance_id) == []
