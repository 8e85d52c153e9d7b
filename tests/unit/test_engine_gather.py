"""`LANEWAY_ENGINE_GATHER_MS` (services/engine/loop.py `iterate`): a batch smaller than
`LANEWAY_ENGINE_GATHER_MIN` waits that long at most for more records; off (the default), the
records in hand are processed at once."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from services.engine import loop as loop_module
from services.engine.batch import Inbound
from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import load_settings


class GatheringConsumer:
    """Two records fetched already and three more that come within a wait; notes each call."""

    def __init__(self) -> None:
        self.buffer = [_message(0), _message(1)]
        self.coming = [_message(2), _message(3), _message(4)]
        self.calls: list[tuple[Any, ...]] = []

    def poll(self, timeout: float) -> Message | None:
        self.calls.append(("poll", timeout))
        return self.buffer.pop(0) if self.buffer else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.calls.append(("consume", num_messages, timeout))
        if timeout > 0:  # a wait: what comes meanwhile
            self.buffer += self.coming
            self.coming = []
        taken, self.buffer = self.buffer[:num_messages], self.buffer[num_messages:]
        return taken


def _message(offset: int) -> Message:
    return Message(topic="t.commands", partition=0, offset=offset, key=b"k", value=b"v")


class Definitions:
    def poll(self) -> None:
        pass


def _batches(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
             ) -> tuple[list[list[int]], GatheringConsumer]:
    monkeypatch.setattr(loop_module, "read_latest", lambda *a, **k: {})
    loop = EngineLoop(load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                     "LANEWAY_TOPIC_PREFIX": "t.",
                                     "LANEWAY_ENGINE_POLL_S": "30", **env}),
                      metrics=EngineMetrics(CollectorRegistry()))
    loop.partitions = {0: loop._restore(0)}
    consumer = GatheringConsumer()
    loop._consumer = consumer  # type: ignore[assignment]
    loop._definitions = Definitions()  # type: ignore[assignment]
    batches: list[list[int]] = []

    def transact(batch: list[Inbound], triggers: Any, now: int) -> None:
        batches.append([i.position[2] for i in batch])

    monkeypatch.setattr(loop, "_transact", transact)
    loop.iterate()
    return batches, consumer


def test_a_small_batch_waits_up_to_the_gather_time_for_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    batches, consumer = _batches(monkeypatch, {"LANEWAY_ENGINE_GATHER_MS": "5",
                                               "LANEWAY_ENGINE_GATHER_MIN": "8"})
    assert batches == [[0, 1, 2, 3, 4]]
    assert consumer.calls[-1] == ("consume", 6, 0.005)


def test_without_a_gather_time_the_records_in_hand_go_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    batches, consumer = _batches(monkeypatch, {})
    assert batches == [[0, 1]]
    assert all(call[0] == "poll" or call[2] == 0 for call in consumer.calls)


def test_a_batch_at_the_gather_minimum_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    batches, consumer = _batches(monkeypatch, {"LANEWAY_ENGINE_GATHER_MS": "5",
                                               "LANEWAY_ENGINE_GATHER_MIN": "2"})
    assert batches == [[0, 1]]
    assert all(call[0] == "poll" or call[2] == 0 for call in consumer.calls)
