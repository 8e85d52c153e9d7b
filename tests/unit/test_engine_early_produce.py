"""The engine loop hands each command's records to the producer as soon as the command is
handled, and sends the batch's offsets to the transaction while the batch is processed
(services/engine/loop.py `_transact`); the commit still comes after all of it, and an offsets'
send that fails aborts the batch (exactly once: nothing of it commits)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from laneway.bpmn import parse
from laneway.codec import decode_record, encode_record
from laneway.records import Command, Record, command
from services.engine import loop as loop_module
from services.engine.batch import BatchWriter, Inbound, decode_all
from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import load_settings

QUICK = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
  targetNamespace="t"><process id="quick" isExecutable="true"><startEvent id="s"/>
  <endEvent id="e"/><sequenceFlow id="f1" sourceRef="s" targetRef="e"/></process>
</definitions>"""


class RecordingProducer:
    """A transactional producer that notes its calls (from any thread) in `calls`."""

    def __init__(self, calls: list[tuple[Any, ...]], send_error: KafkaException | None = None
                 ) -> None:
        self.calls = calls
        self.lock = threading.Lock()
        self.send_error = send_error

    def note(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def begin_transaction(self) -> None:
        self.note("begin")

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None,
                **kwargs: Any) -> None:
        self.note("produce", topic, key)

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: Any,
                                    timeout: float) -> None:
        self.note("offsets", sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))
        if self.send_error is not None:
            raise self.send_error

    def commit_transaction(self, timeout: float) -> None:
        self.note("commit")

    def abort_transaction(self, timeout: float) -> None:
        self.note("abort")


class MetadataConsumer:
    def consumer_group_metadata(self) -> object:
        return object()


def _start(offset: int) -> Message:
    cmd: Record = command(Command.START_INSTANCE, str(uuid.uuid4()),
                          {"processId": "quick", "variables": {}},
                          record_id=str(uuid.uuid4()), timestamp=1)
    return Message(topic="t.commands", partition=0, offset=offset,
                   key=cmd.instance_id.encode(), value=encode_record(cmd))


def _loop(monkeypatch: pytest.MonkeyPatch, producer: RecordingProducer) -> EngineLoop:
    monkeypatch.setattr(loop_module, "read_latest", lambda *a, **k: {})
    loop = EngineLoop(load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                     "LANEWAY_TOPIC_PREFIX": "t."}),
                      metrics=EngineMetrics(CollectorRegistry()))
    loop.repository.load(parse(QUICK), "quick", 1)
    loop.partition_count = 1
    loop.partitions = {0: loop._restore(0)}
    loop._producer = producer  # type: ignore[assignment]
    loop._consumer = MetadataConsumer()  # type: ignore[assignment]
    loop._definitions = object()  # type: ignore[assignment]
    return loop


def _handled(monkeypatch: pytest.MonkeyPatch, producer: RecordingProducer) -> None:
    """Note each command the batch writer handles, in the producer's calls."""
    handle = BatchWriter.handle

    def noted(self: BatchWriter, inbound: Inbound, *args: Any) -> None:
        producer.note("handle", inbound.position[2])
        handle(self, inbound, *args)

    monkeypatch.setattr(BatchWriter, "handle", noted)


def test_a_commands_records_are_produced_before_the_next_command_is_handled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    producer = RecordingProducer(calls)
    loop = _loop(monkeypatch, producer)
    _handled(monkeypatch, producer)
    batch = decode_all([_start(0), _start(1)])
    ids = [i.record.instance_id.encode() for i in batch if i.record is not None]
    loop._transact(batch, {}, 1_000)
    in_order = [c for c in calls if c[0] != "offsets"]
    second = in_order.index(("handle", 1))
    # the first instance's events are with the producer before the second command is handled
    assert ("produce", "t.events", ids[0]) in in_order[:second]
    assert ("produce", "t.events", ids[1]) not in in_order[:second]
    # the offsets of the whole batch, sent once, before the commit; the commit comes last
    offsets = [c for c in calls if c[0] == "offsets"]
    assert offsets == [("offsets", [("t.commands", 0, 2)])]
    assert calls.index(offsets[0]) < calls.index(("commit",))
    assert calls[-1] == ("commit",)
    assert loop._committed[("t.commands", 0)] == 2
    # everything the batch wrote was produced: both instances' snapshots (ended: tombstones)
    produced = [c for c in calls if c[0] == "produce"]
    assert {c[2] for c in produced if c[1] == "t.state"} >= set(ids)


def test_an_offsets_send_that_fails_aborts_the_batch_and_nothing_commits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    lost = KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "lost",
                                     txn_requires_abort=True))
    producer = RecordingProducer(calls, send_error=lost)
    loop = _loop(monkeypatch, producer)
    loop._transact(decode_all([_start(0)]), {}, 1_000)
    assert ("commit",) not in calls
    assert calls[-1] == ("abort",)
    assert loop._needs_recovery
    assert ("t.commands", 0) not in loop._committed


def test_the_produced_events_are_the_batchs_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Producing as it goes keeps the writer's order: per command its events, then the
    snapshots at the batch's end."""
    calls: list[tuple[Any, ...]] = []
    producer = RecordingProducer(calls)
    loop = _loop(monkeypatch, producer)
    writers: list[BatchWriter] = []
    init = BatchWriter.__init__

    def kept(self: BatchWriter, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        writers.append(self)

    monkeypatch.setattr(BatchWriter, "__init__", kept)
    loop._transact(decode_all([_start(0), _start(1), _start(2)]), {}, 1_000)
    produced = [c[1:] for c in calls if c[0] == "produce"]
    assert produced == [(o.topic, o.key) for o in writers[0].out]
    # and that order is each command's events, then the batch's snapshots
    kinds = [o.topic for o in writers[0].out]
    assert kinds.index("t.state") > max(i for i, t in enumerate(kinds) if t == "t.events")
    assert len({decode_record(o.value or b"").instance_id for o in writers[0].out
                if o.topic == "t.events"}) == 3
