"""The engine service and the record size limit (issue 10, item 2), on the real Kafka: a record
over the limit is dead-lettered, a command whose results would be over it is rejected, and in
neither case does the engine stop for anyone else. The service, topics and readers are those of
`test_engine_service`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from laneway.codec import StateSnapshot, encode_record, encode_state, read_dead_letter_headers
from laneway.engine.state import BufferedMessage, EngineState
from laneway.kafka import producer_config
from laneway.records import SYSTEM, Command, RecordKind, command
from services.engine.partitions import message_side_dict, message_side_key
from tests.integration.test_engine_service import (
    MESSAGE,
    PARTITIONS,
    SIMPLE,
    Reader,
    ThreadService,
    World,
    bpmn,
    completed,
    events,
    find,
    of,
    partition_of,
    world,
)

__all__ = ["events", "world"]  # the fixtures, used by name

pytestmark = pytest.mark.integration

TASK_THEN_CALL = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><userTask id="one"/>
  <callActivity id="call">
    <extensionElements><zeebe:calledElement processId="CHILD"/></extensionElements>
  </callActivity><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="one"/>
  <sequenceFlow id="f2" sourceRef="one" targetRef="call"/>
  <sequenceFlow id="f3" sourceRef="call" targetRef="e"/></process>"""
TASK_THEN_TIMER = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><userTask id="one"/>
  <intermediateCatchEvent id="wait"><timerEventDefinition>
    <timeDuration>PT0.2S</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="one"/>
  <sequenceFlow id="f2" sourceRef="one" targetRef="wait"/>
  <sequenceFlow id="f3" sourceRef="wait" targetRef="e"/></process>"""


def small(world: World) -> ThreadService:
    """The engine service with a record limit of 200 kB, so a few commands of 50-100 kB of
    variables each outgrow a record."""
    settings = world.settings()
    return ThreadService(dataclasses.replace(
        settings, common=dataclasses.replace(settings.common, max_record_bytes=200_000)))


@pytest.fixture
def small_engine(world: World) -> Iterator[ThreadService]:
    """`small`, stopped at the end."""
    svc = small(world)
    yield svc
    svc.stop()


@pytest.fixture
def engine(world: World) -> Iterator[ThreadService]:
    """The engine service with the default limits."""
    svc = ThreadService(world.settings())
    yield svc
    svc.stop()


def test_a_command_record_over_the_limit_is_dead_lettered_and_the_engine_goes_on(
        world: World, engine: ThreadService, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    # a producer that allows large records, compressing: 1.2 MB of one letter is a few kB on
    # the wire, which the topic takes, and 1.2 MB again once the engine reads it
    big = Producer({**producer_config(world.bootstrap), "message.max.bytes": 10_000_000})
    huge = str(uuid.uuid4())
    cmd = command(Command.START_INSTANCE, huge,
                  {"processId": "simple", "variables": {"blob": "x" * 1_200_000}},
                  record_id=f"test-{uuid.uuid4()}", timestamp=1, principal=SYSTEM)
    big.produce(world.topics.commands, encode_record(cmd), huge.encode())
    assert big.flush(10) == 0
    after = world.start("simple")

    events.wait_for(completed(after), message="the next instance completed")
    dlq = Reader(world.bootstrap, world.topics.dlq, lambda b: b)
    try:
        dlq.wait_for(lambda items: items, message="dead letter")
        headers = read_dead_letter_headers(dlq.raw[0].headers() or [])
        assert headers["reason"] == "too-large"
        assert headers["topic"] == world.topics.commands
        assert "1000000 bytes" in headers["error"]
        assert dlq.raw[0].value() is None  # the dead letter must fit the topic too
    finally:
        dlq.close()
    assert of(events.poll(), huge) == []


def test_a_command_over_the_command_limit_is_rejected_unprocessed(
        world: World, engine: ThreadService, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    iid = world.start("simple", variables={"blob": "x" * 400_000})

    rejection = events.wait_for(find("START_INSTANCE", iid), message="rejection")

    assert rejection.kind == RecordKind.REJECTION
    assert rejection.value["rejectionType"] == "EXCEEDED_SIZE"
    assert "variables" not in rejection.value["command"]
    assert len(events.raw[events.items.index(rejection)].value()) < 4096


def test_a_command_that_would_outgrow_the_snapshot_is_rejected_and_the_instance_goes_on(
        world: World, small_engine: ThreadService, events: Reader) -> None:
    world.deploy("grow", bpmn(TASK_THEN_TIMER, "grow"))
    iid = world.start("grow", variables={"a": "x" * 110_000})
    task = events.wait_for(find("USER_TASK_CREATED", iid), message="the task")

    # 2 x 50 kB more: no record the completion writes is over 200 kB, but the instance's
    # snapshot at the batch's end would be
    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"], "variables": {
        "b": "y" * 50_000, "c": "z" * 50_000}})
    rejection = events.wait_for(
        lambda recs: next((r for r in of(recs, iid) if r.kind == RecordKind.REJECTION), None),
        message="rejection")
    assert rejection.intent == "COMPLETE_USER_TASK"
    assert rejection.value["rejectionType"] == "EXCEEDED_SIZE"
    assert "state" in rejection.value["reason"]
    assert rejection.value["command"] == {"taskKey": task.value["key"]}

    # the instance is where it was before: the same task completes with less
    world.send(Command.COMPLETE_USER_TASK, iid,
               {"taskKey": task.value["key"], "variables": {"c": "small"}})
    events.wait_for(completed(iid), message="instance completed")
    updates = [r.value for r in of(events.items, iid) if r.intent == "VARIABLES_UPDATED"]
    assert [sorted(u["variables"]) for u in updates] == [["a"], ["c"]]


def _keys_on_one_partition(n: int) -> list[str]:
    keys = (f"ref-{uuid.uuid4().hex[:8]}" for _ in range(10_000))
    chosen: list[str] = []
    for key in keys:
        if not chosen or partition_of(key) == partition_of(chosen[0]):
            chosen.append(key)
        if len(chosen) == n:
            return chosen
    raise AssertionError("no keys")


def test_buffered_messages_are_kept_one_record_each_so_they_outgrow_no_record(
        world: World, events: Reader) -> None:
    world.deploy("msg", bpmn(MESSAGE, "msg"))
    keys = _keys_on_one_partition(5)
    svc = small(world)
    try:
        # 5 x 60 kB waiting for their time to live on one partition: 300 kB of message side
        for key in keys:
            world.send(Command.PUBLISH_MESSAGE, "", {
                "name": "docs", "correlationKey": key, "variables": {"doc": "d" * 60_000},
                "messageId": key, "ttl": 3_600_000})
        last = world.start("msg", variables={"ref": keys[-1]})
        events.wait_for(completed(last), message="the last message correlated")
    finally:
        svc.stop()
    assert [r for r in events.items if r.kind == RecordKind.REJECTION] == []

    # a new replica reads the buffered messages back, each from its own record
    svc = small(world)
    try:
        first = world.start("msg", variables={"ref": keys[0]})
        events.wait_for(completed(first), message="the first message correlated after restore")
    finally:
        svc.stop()


def test_a_message_side_in_the_one_record_layout_is_read_and_replaced_by_items(
        world: World, events: Reader) -> None:
    world.deploy("msg", bpmn(MESSAGE, "msg"))
    old, new = _keys_on_one_partition(2)
    partition = partition_of(old, PARTITIONS)
    state = EngineState()
    state.messages[old] = BufferedMessage("docs", old, {"from": "before"}, old, 2**50, [])
    world.producer.produce(world.topics.state, encode_state(StateSnapshot(
        message_side_key(partition), "__messages__", 0, "ACTIVE", 1, message_side_dict(state))),
        message_side_key(partition).encode(), partition=partition)
    world.producer.flush(10)
    svc = ThreadService(world.settings())
    try:
        world.send(Command.PUBLISH_MESSAGE, "", {
            "name": "docs", "correlationKey": new, "variables": {}, "messageId": new,
            "ttl": 3_600_000})
        before = world.start("msg", variables={"ref": old})
        events.wait_for(completed(before), message="the message of the old layout correlated")
    finally:
        svc.stop()
    state_records = Reader(world.bootstrap, world.topics.state, lambda b: b)
    try:
        state_records.wait_for(lambda items: any(
            m.key() == message_side_key(partition).encode() and m.value() is None
            for m in state_records.raw), message="the old record tombstoned")
        assert any(m.key() == f"{message_side_key(partition)}/m/{old}".encode()
                   for m in state_records.raw)
    finally:
        state_records.close()


def test_a_command_whose_follow_up_would_be_over_the_command_limit_is_rejected(
        world: World, engine: ThreadService, events: Reader) -> None:
    world.deploy("child", bpmn(SIMPLE, "child"))
    world.deploy("parent", bpmn(TASK_THEN_CALL.replace("CHILD", "child"), "parent"))
    iid = world.start("parent", variables={"a": "x" * 200_000})
    task = events.wait_for(find("USER_TASK_CREATED", iid), message="the task")

    # each within the limit, together over it: the child's start would carry both
    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"],
                                                 "variables": {"b": "y" * 200_000}})
    rejection = events.wait_for(
        lambda recs: next((r for r in of(recs, iid) if r.kind == RecordKind.REJECTION), None),
        message="rejection")
    assert rejection.value["rejectionType"] == "EXCEEDED_SIZE"
    assert "commands this command makes" in rejection.value["reason"]

    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"],
                                                 "variables": {"b": "small"}})
    events.wait_for(completed(iid), message="the parent completed through its child")
