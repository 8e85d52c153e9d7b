"""A replica that lost its partitions in the middle of a batch (a zombie) and then goes on must
write nothing: the replica that took them over has done that work (docs/engine-service.md,
"Exactly once"). On the real Kafka, with two engine loops in this process under different
transactional ids (as replicas named by host and pid have), one held inside a batch until its
consumer has left the group. The service, topics and readers are those of
`test_engine_service`."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from laneway.codec import decode_record
from laneway.kafka import consumer_config
from laneway.records import Command, Record, RecordKind
from scripts.stack.testing import unique_name, wait_until
from services.engine.loop import EngineLoop
from services.engine.settings import EngineSettings
from tests.integration.test_engine_service import (
    PARTITIONS,
    SIMPLE,
    TIMER,
    Reader,
    ThreadService,
    World,
    bpmn,
    completed,
    events,
    find,
    world,
)

pytestmark = pytest.mark.integration

__all__ = ["events", "world"]  # fixtures used by name

# the shortest the broker allows (group.min.session.timeout.ms): the held replica leaves the
# group this long after its last poll
SHORT_MS = 6000


def short(settings: EngineSettings) -> EngineSettings:
    """Settings whose consumer leaves the group soon after the loop stops polling."""
    return dataclasses.replace(settings, session_timeout_ms=SHORT_MS,
                               max_poll_interval_ms=SHORT_MS)


class Hold:
    """Holds the loop of one replica when it begins a batch of timer triggers alone, until
    released; says when it got there and when that batch is over."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, replica: str) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        original = EngineLoop._transact

        def transact(loop: EngineLoop, batch: list[Any], triggers: dict[int, list[Record]],
                     now: int) -> None:
            if loop.settings.replica != replica or batch or not triggers or self.done.is_set():
                original(loop, batch, triggers, now)
                return
            self.held.set()
            self.release.wait(120)
            try:
                original(loop, batch, triggers, now)
            finally:
                self.done.set()

        monkeypatch.setattr(EngineLoop, "_transact", transact)


def committed_commands(world: World, intent: str, instance_id: str) -> list[Record]:
    """The commands of `intent` for the instance on `commands`, read_committed, to the end."""
    consumer = Consumer(consumer_config(world.bootstrap, unique_name("cmds")))
    try:
        marks = {p: consumer.get_watermark_offsets(TopicPartition(world.topics.commands, p),
                                                   timeout=10) for p in range(PARTITIONS)}
        ends = {p: high for p, (low, high) in marks.items() if high > low}
        consumer.assign([TopicPartition(world.topics.commands, p, OFFSET_BEGINNING)
                         for p in range(PARTITIONS)])
        found: list[Record] = []

        def at_end() -> bool:
            for msg in consumer.consume(1000, timeout=0.05):
                if msg.error() is None:
                    rec = decode_record(msg.value() or b"")
                    if rec.intent == intent and rec.instance_id == instance_id:
                        found.append(rec)
            return all(consumer.position([TopicPartition(world.topics.commands, p)])[0].offset
                       >= end for p, end in ends.items())

        wait_until(at_end, 20, 0.05, "commands read to the end")
        return found
    finally:
        consumer.close()


class HoldAfterProducing:
    """Holds the loop of one replica once it has produced the records of a batch that holds a
    command for `instance_id` (its transaction open, its offsets not yet sent), until
    released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, replica: str) -> None:
        self.instance_id = ""
        self.held = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        original_transact = EngineLoop._transact
        original_produce = EngineLoop._produce

        def transact(loop: EngineLoop, batch: list[Any], triggers: dict[int, list[Record]],
                     now: int) -> None:
            try:
                original_transact(loop, batch, triggers, now)
            finally:
                if self.held.is_set():
                    self.done.set()

        def produce(loop: EngineLoop, records: list[Any]) -> None:
            original_produce(loop, records)
            if (loop.settings.replica == replica and not self.held.is_set()
                    and any(self.instance_id.encode() == r.key for r in records)):
                loop._producer.flush(10)  # type: ignore[union-attr]
                self.held.set()
                self.release.wait(120)

        monkeypatch.setattr(EngineLoop, "_transact", transact)
        monkeypatch.setattr(EngineLoop, "_produce", produce)


@pytest.fixture
def hold_a(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    hold = Hold(monkeypatch, "a")
    yield hold
    hold.release.set()


def test_a_replica_that_lost_its_partitions_in_a_batch_of_timers_commits_nothing(
        world: World, events: Reader, hold_a: Hold) -> None:
    # given replica a owning every partition, with an instance whose timer falls due while a
    # is held at the start of the batch that would trigger it
    world.deploy("tm", bpmn(TIMER.replace("DURATION", "PT3S"), "tm"))
    a = ThreadService(short(world.settings("a")))
    b: ThreadService | None = None
    try:
        iid = world.start("tm")
        events.wait_for(find("TIMER_CREATED", iid), message="timer created")
        wait_until(hold_a.held.is_set, 30, 0.05, "replica a held in its timer batch")
        # when replica b joins, a's consumer leaves the group (a has not polled), b takes
        # every partition and triggers the timer itself
        b = ThreadService(short(world.settings("b")))
        events.wait_for(completed(iid), timeout=60, message="instance completed by b")
        # and a then goes on with the batch it began while it owned the partition
        hold_a.release.set()
        wait_until(hold_a.done.is_set, 90, 0.05, "replica a's held batch over")
        # then a's trigger was not committed: KIP-447 refused a's transaction, whose group
        # generation was gone (before, a batch of timers alone sent no offsets, so nothing
        # checked it, and a's TRIGGER_TIMER reached b, which refused it)
        triggers = committed_commands(world, Command.TRIGGER_TIMER.value, iid)
        assert len(triggers) == 1, [t.record_id for t in triggers]
        # and both replicas go on: a joins again as a fresh member, and the group shares the
        # partitions between them
        wait_until(lambda: 0 < len(a.loop.partitions) < PARTITIONS
                   and len(a.loop.partitions) + len(b.loop.partitions) == PARTITIONS,
                   90, 0.1, "the partitions shared by a and b")
        later = world.start("tm")
        events.wait_for(completed(later), timeout=60, message="a later instance completed")
    finally:
        hold_a.release.set()
        a.stop()
        if b is not None:
            b.stop()
    recs = events.poll()
    assert [r for r in recs if r.kind == RecordKind.REJECTION] == []
    assert [n for n in Counter(r.record_id for r in recs).values() if n > 1] == []
    assert len([r for r in recs if r.instance_id == iid and r.intent == "TIMER_TRIGGERED"]) == 1


def test_a_replica_held_in_a_transaction_while_another_takes_over_writes_nothing_twice(
        world: World, events: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    # given replica a, held with its records of a start produced in an open transaction
    hold = HoldAfterProducing(monkeypatch, "a")
    hold.instance_id = "11111111-2222-4333-8444-555555555555"
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    a = ThreadService(short(world.settings("a")))
    b: ThreadService | None = None
    try:
        world.start("simple", hold.instance_id)
        wait_until(hold.held.is_set, 30, 0.05, "replica a held in its transaction")
        # when b joins and is given a's partitions (a has not polled: it left the group),
        # and a then goes on with its transaction
        b = ThreadService(short(world.settings("b")))
        wait_until(lambda: b is not None and b.loop.joined, 60, 0.05, "b assigned")
        hold.release.set()
        wait_until(hold.done.is_set, 90, 0.05, "replica a's held batch over")
        # then the start is processed once, by whichever replica the offsets say
        events.wait_for(completed(hold.instance_id), timeout=60, message="instance completed")
        later = world.start("simple")
        events.wait_for(completed(later), timeout=60, message="a later instance completed")
    finally:
        hold.release.set()
        a.stop()
        if b is not None:
            b.stop()
    recs = events.poll()
    assert [n for n in Counter(r.record_id for r in recs).values() if n > 1] == []
    assert len([r for r in recs if r.instance_id == hold.instance_id
                and r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"]) == 1
