"""A replica reads its new partitions' committed offsets (stable: no other producer's
transaction holding offsets of theirs pending) before it restores their state, on assignment
and on recovery, so the state it restores is the state of the offsets it goes on from
(services/engine/loop.py, `_stable_offsets`)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from services.engine import loop as loop_module
from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import load_settings


class FakeConsumer:
    """Answers committed offsets (7 on commands, none on messages) and notes each call."""

    def __init__(self, calls: list[Any], owned: list[TopicPartition]) -> None:
        self.calls = calls
        self.owned = owned

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls.append(("offsets", sorted((tp.topic, tp.partition) for tp in partitions)))
        return [TopicPartition(tp.topic, tp.partition, 7 if "commands" in tp.topic else -1001)
                for tp in partitions]

    def assignment(self) -> list[TopicPartition]:
        return self.owned

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", tp.topic, tp.partition, tp.offset))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> tuple[EngineLoop, list[Any]]:
    calls: list[Any] = []

    def read_latest(bootstrap: str, topic: str, partition: int, timeout_s: float,
                    client_id: str = "") -> dict[bytes, bytes]:
        calls.append(("restore", partition))
        return {}

    monkeypatch.setattr(loop_module, "read_latest", read_latest)
    loop = EngineLoop(load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                     "LANEWAY_TOPIC_PREFIX": "t."}),
                      metrics=EngineMetrics(CollectorRegistry()))
    return loop, calls


def test_assigned_partitions_read_their_offsets_before_their_state(
        engine: tuple[EngineLoop, list[Any]]) -> None:
    loop, calls = engine
    assigned = [TopicPartition("t.commands", 2), TopicPartition("t.messages", 2)]
    consumer = FakeConsumer(calls, assigned)
    loop._consumer = consumer  # type: ignore[assignment]
    loop._on_assign(consumer, assigned)  # type: ignore[arg-type]
    assert calls == [("offsets", [("t.commands", 2), ("t.messages", 2)]), ("restore", 2)]
    assert loop._committed == {("t.commands", 2): 7, ("t.messages", 2): -1001}


def test_a_recovery_reads_the_offsets_then_the_state_then_seeks_to_those_offsets(
        engine: tuple[EngineLoop, list[Any]]) -> None:
    loop, calls = engine
    owned = [TopicPartition("t.commands", 1), TopicPartition("t.messages", 1)]
    loop._consumer = FakeConsumer(calls, owned)  # type: ignore[assignment]
    loop._recover()
    assert calls == [("offsets", [("t.commands", 1), ("t.messages", 1)]), ("restore", 1),
                     ("seek", "t.commands", 1, 7), ("seek", "t.messages", 1, -2)]
