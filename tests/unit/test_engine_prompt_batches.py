"""The engine loop and the projection loop take the records that are there and go on at once:
they block for the first record only and never wait for a batch to fill (a wait of the poll
interval on every hop was most of an instance's latency at low load). `laneway.kafka.fetch`,
used by `services/engine/loop.py` and `laneway/consuming.py`."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition
from prometheus_client import CollectorRegistry

from laneway.consuming import DeadLetterProducer, ProjectionLoop
from laneway.kafka import RenewingProducer, fetch
from services.engine import loop as loop_module
from services.engine.batch import Inbound
from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import load_settings


class BufferedConsumer:
    """A consumer whose records are all fetched already; notes each call. A call that would
    wait for more records than are there fails the test."""

    def __init__(self, messages: list[Message]) -> None:
        self.buffer = list(messages)
        self.calls: list[tuple[Any, ...]] = []
        self.committed: list[TopicPartition] = []
        self.on_commit: threading.Event | None = None

    def poll(self, timeout: float) -> Message | None:
        self.calls.append(("poll", timeout))
        return self.buffer.pop(0) if self.buffer else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.calls.append(("consume", num_messages, timeout))
        if timeout > 0 and len(self.buffer) < num_messages:
            raise AssertionError(f"waited up to {timeout}s for {num_messages} records with "
                                 f"{len(self.buffer)} there")
        taken, self.buffer = self.buffer[:num_messages], self.buffer[num_messages:]
        return taken

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.calls.append(("subscribe", tuple(topics)))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.committed.extend(offsets)
        if self.on_commit is not None:
            self.on_commit.set()


def messages(n: int, topic: str = "t.commands", partition: int = 0) -> list[Message]:
    return [Message(topic=topic, partition=partition, offset=i, key=b"k", value=b"v")
            for i in range(n)]


def test_fetch_takes_every_buffered_record_after_blocking_for_the_first_only() -> None:
    consumer = BufferedConsumer(messages(3))
    got = fetch(consumer, 500, 2.5)  # type: ignore[arg-type]
    assert [m.offset() for m in got] == [0, 1, 2]
    assert consumer.calls == [("poll", 2.5), ("consume", 499, 0)]


def test_fetch_stops_at_the_limit_and_leaves_the_rest_for_the_next_batch() -> None:
    consumer: Any = BufferedConsumer(messages(7))
    assert [m.offset() for m in fetch(consumer, 5, 1.0)] == [0, 1, 2, 3, 4]
    assert [m.offset() for m in fetch(consumer, 5, 1.0)] == [5, 6]
    assert [m.offset() for m in fetch(consumer, 1, 1.0)] == []


def test_fetch_of_one_record_only_polls() -> None:
    consumer = BufferedConsumer(messages(2))
    assert [m.offset() for m in fetch(consumer, 1, 1.0)] == [0]  # type: ignore[arg-type]
    assert consumer.calls == [("poll", 1.0)]


def test_fetch_with_nothing_there_returns_nothing_after_the_poll() -> None:
    consumer = BufferedConsumer([])
    assert fetch(consumer, 500, 0.3) == []  # type: ignore[arg-type]
    assert consumer.calls == [("poll", 0.3)]


class Definitions:
    def poll(self) -> None:
        pass


def test_the_engine_processes_the_records_in_hand_without_waiting_for_a_full_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_module, "read_latest", lambda *a, **k: {})
    loop = EngineLoop(load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                     "LANEWAY_TOPIC_PREFIX": "t.",
                                     "LANEWAY_ENGINE_POLL_S": "30",
                                     "LANEWAY_ENGINE_BATCH_SIZE": "500"}),
                      metrics=EngineMetrics(CollectorRegistry()))
    loop.partitions = {0: loop._restore(0)}
    consumer = BufferedConsumer(messages(3))
    loop._consumer = consumer  # type: ignore[assignment]
    loop._definitions = Definitions()  # type: ignore[assignment]
    batches: list[list[Inbound]] = []
    monkeypatch.setattr(loop, "_transact", lambda batch, triggers, now: batches.append(batch))
    loop.iterate()
    assert [[i.position for i in b] for b in batches] == [
        [("t.commands", 0, 0), ("t.commands", 0, 1), ("t.commands", 0, 2)]]
    assert consumer.calls == [("poll", 30.0), ("consume", 499, 0)]


def test_a_projection_writes_and_commits_the_records_in_hand_without_waiting() -> None:
    consumer = BufferedConsumer(messages(3, topic="t.events", partition=2))
    committed = threading.Event()
    consumer.on_commit = committed
    seen: list[int] = []

    def handle(conn: Any, items: Any) -> int:
        raise AssertionError("nothing decoded, nothing to write")

    def decode(msg: Message) -> None:
        seen.append(int(msg.offset() or 0))

    stop = threading.Event()
    projection: ProjectionLoop[None] = ProjectionLoop(
        consumer, ["t.events"], handle, lambda: None,  # type: ignore[arg-type, return-value]
        DeadLetterProducer(RenewingProducer(None, object()), "t.dlq"),  # type: ignore[arg-type]
        decode=decode, batch_size=500, poll_timeout_s=30.0, stop=stop)
    runner = threading.Thread(target=projection.run, daemon=True)
    runner.start()
    try:
        # the commit comes from the batch in hand; a loop that waited for a full batch would
        # have failed the consumer's check (and never committed)
        assert committed.wait(10), consumer.calls
    finally:
        stop.set()
        consumer.buffer.clear()
    assert seen == [0, 1, 2]
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.committed] == [
        ("t.events", 2, 3)]
    assert consumer.calls[:3] == [("subscribe", ("t.events",)), ("poll", 30.0),
                                  ("consume", 499, 0)]
