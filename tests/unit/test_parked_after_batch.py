"""An instance that a running engine's batch touched and that now waits goes back to its
snapshot bytes after the batch (services/engine/batch.py `BatchWriter.finish`), in a partition
built empty as well as a restored one; the indexes the appliers kept (signal index, message
subscriptions, timer heap) stay, so a signal, a message and a timer still reach it."""

from __future__ import annotations

import uuid

from confluent_kafka import Message

from laneway.bpmn import parse
from laneway.codec import decode_record, decode_state, encode_record
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.engine.state import InstanceStatus
from laneway.records import Command, Record, command
from laneway.topics import Topics
from services.engine.batch import BatchWriter, Inbound
from services.engine.partitions import ParkedInstances, PartitionState, build_partition

NS = ('xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"')
CATCH = """<process id="PROCESS" isExecutable="true"><startEvent id="s"/>
  <intermediateCatchEvent id="wait">EVENT</intermediateCatchEvent><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></process>"""
SIGNAL = '<signal id="sg" name="go"/>' + CATCH.replace(
    "EVENT", '<signalEventDefinition signalRef="sg"/>')
MESSAGE = ('<message id="m" name="docs"><extensionElements>'
           '<zeebe:subscription correlationKey="=ref"/></extensionElements></message>'
           + CATCH.replace("EVENT", '<messageEventDefinition messageRef="m"/>'))
TIMER = CATCH.replace("EVENT", "<timerEventDefinition><timeDuration>PT1H</timeDuration>"
                               "</timerEventDefinition>")
QUICK = """<process id="PROCESS" isExecutable="true"><startEvent id="s"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="e"/></process>"""
T = Topics("t.")


def repository() -> DefinitionRepository:
    repo = DefinitionRepository()
    for pid, body in (("sig", SIGNAL), ("msg", MESSAGE), ("tm", TIMER), ("quick", QUICK)):
        repo.load(parse(f'<definitions {NS} id="d-{pid}" targetNamespace="t">'
                        f'{body.replace("PROCESS", pid)}</definitions>'.encode()), pid, 1)
    return repo


def _inbound(cmd: Record, offset: int, topic: str = T.commands) -> Inbound:
    message = Message(topic=topic, partition=0, offset=offset,
                      key=cmd.instance_id.encode(), value=encode_record(cmd))
    return Inbound(message, cmd, None)


def started_by_a_batch() -> tuple[PartitionState, list[BatchWriter], dict[str, str]]:
    """One instance of each diagram started by one batch of a partition built empty, then the
    follow-up commands it wrote (opening the message subscription) in batches of their own,
    as the engine service runs them."""
    part = build_partition(0, repository(), [])
    writer = BatchWriter(T, {0: part}, 1, lambda _t: None)
    ids = {pid: str(uuid.uuid4()) for pid in ("sig", "msg", "tm", "quick")}
    for offset, (pid, iid) in enumerate(ids.items()):
        writer.handle(_inbound(command(
            Command.START_INSTANCE, iid, {"processId": pid, "variables": {"ref": "order-1"}},
            record_id=str(uuid.uuid4()), timestamp=1), offset))
    writer.finish(2)
    writers = [writer]
    offset = len(ids)
    for _ in range(5):  # bounded: the follow-ups of these diagrams end in one or two rounds
        follow = [(o.topic, decode_record(o.value)) for o in writers[-1].out
                  if o.topic in (T.commands, T.messages) and o.value is not None]
        if not follow:
            break
        writer = BatchWriter(T, {0: part}, 1, lambda _t: None)
        for topic, cmd in follow:
            writer.handle(_inbound(cmd, offset, topic))
            offset += 1
        writer.finish(3)
        writers.append(writer)
    return part, writers, ids


def run_on(part: PartitionState, intent: Command, instance_id: str,
           value: dict[str, object], clock: int = 0) -> None:
    """The command (and every follow-up) on the partition's own engine."""
    runner = LocalRunner(part.engine.repository, keep_records=False)
    runner.engine = part.engine
    runner.clock = max(runner.clock, clock)
    runner.submit(intent, instance_id, value)
    runner.drain(1000)


def test_waiting_instances_go_back_to_the_bytes_the_batch_wrote() -> None:
    part, writers, ids = started_by_a_batch()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    # the ones that wait are bytes again; the one that ended left memory
    assert ids["quick"] not in instances
    assert all(instances.is_parked(ids[p]) for p in ("sig", "msg", "tm"))
    written = {o.key: o.value for o in writers[0].out if o.topic == T.state and o.value}
    for pid in ("sig", "msg", "tm"):
        # the same bytes as the batch's snapshot, and they decode to a waiting instance
        snapshot = written[ids[pid].encode()]
        assert snapshot is not None
        assert decode_state(snapshot).instance() == instances[ids[pid]]
        assert instances[ids[pid]].status == InstanceStatus.ACTIVE
    # the indexes the appliers kept while running are still there
    assert set(part.state.signal_subs) == {"go"}
    assert ("docs", "order-1") in part.state.message_subs
    assert len(part.timers) == 1


def test_a_signal_reaches_an_instance_parked_after_its_batch() -> None:
    part, _writers, ids = started_by_a_batch()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["sig"])

    run_on(part, Command.BROADCAST_SIGNAL, "", {"name": "go", "variables": {}})

    assert instances[ids["sig"]].status == InstanceStatus.COMPLETED
    assert instances.is_parked(ids["msg"])
    assert instances.is_parked(ids["tm"])


def test_a_message_reaches_an_instance_parked_after_its_batch() -> None:
    part, _writers, ids = started_by_a_batch()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["msg"])

    run_on(part, Command.PUBLISH_MESSAGE, "", {
        "name": "docs", "correlationKey": "order-1", "variables": {"pages": 3},
        "messageId": "m-1", "ttl": 0})

    assert instances[ids["msg"]].status == InstanceStatus.COMPLETED
    assert instances.is_parked(ids["sig"])
    assert instances.is_parked(ids["tm"])


def test_a_timer_fires_for_an_instance_parked_after_its_batch() -> None:
    part, _writers, ids = started_by_a_batch()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["tm"])
    due = part.timers.next_due()
    assert due is not None

    [trigger] = part.timers.due(due, instances)
    run_on(part, Command(trigger.intent), trigger.instance_id, dict(trigger.value), due)

    assert trigger.instance_id == ids["tm"]
    assert instances[ids["tm"]].status == InstanceStatus.COMPLETED
    assert instances.is_parked(ids["sig"])
    assert instances.is_parked(ids["msg"])
