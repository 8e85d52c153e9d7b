"""The engine loop's transactional calls: bounded, retried only while retriable, and each error
sorted into abort, stop or renew (services/engine/txn.py)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import load_settings
from services.engine.txn import bounded, fatal, fenced


def _failing(*errors: KafkaError) -> tuple[list[float], object]:
    calls: list[float] = []
    queue = list(errors)

    def call(timeout: float) -> None:
        calls.append(timeout)
        if queue:
            raise KafkaException(queue.pop(0))

    return calls, call


def test_a_retriable_error_is_tried_again_with_a_bounded_timeout() -> None:
    timed_out = KafkaError(KafkaError._TIMED_OUT, "coordinator away", retriable=True)
    calls, call = _failing(timed_out, timed_out)
    bounded(call, "the commit", limit_s=60, call_timeout_s=5)  # type: ignore[arg-type]
    assert len(calls) == 3
    assert all(0 < t <= 5 for t in calls)


def test_an_error_that_requires_an_abort_is_raised_at_once() -> None:
    # the group generation is gone (KIP-447): retrying cannot help, the batch must be aborted
    lost = KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "lost", txn_requires_abort=True)
    calls, call = _failing(lost)
    with pytest.raises(KafkaException):
        bounded(call, "sending the offsets", limit_s=60)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_retrying_ends_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # each call blocks for its whole timeout (on a clock of the test's own) and times out
    now = [0.0]
    monkeypatch.setattr("services.engine.txn.time.monotonic", lambda: now[0])
    calls: list[float] = []

    def call(timeout: float) -> None:
        calls.append(timeout)
        now[0] += timeout
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "away", retriable=True))

    with pytest.raises(KafkaException):
        bounded(call, "the commit", limit_s=60, call_timeout_s=10)
    assert calls == [10.0] * 6


def test_fenced_and_fatal_are_told_apart() -> None:
    taken = KafkaException(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    broken = KafkaException(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "gap",
                                       fatal=True))
    lost = KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "lost",
                                     txn_requires_abort=True))
    assert fenced(taken)
    assert fatal(taken)
    assert not fenced(broken)
    assert fatal(broken)
    assert not fenced(lost)
    assert not fatal(lost)
    assert not fatal(RuntimeError("engine bug"))


class FakeProducer:
    def __init__(self) -> None:
        self.aborted = 0
        self.purged = 0

    def abort_transaction(self, timeout: float) -> None:
        self.aborted += 1

    def purge(self) -> None:
        self.purged += 1


def _loop(monkeypatch: pytest.MonkeyPatch) -> tuple[EngineLoop, FakeProducer, list[FakeProducer]]:
    loop = EngineLoop(load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}),
                      metrics=EngineMetrics(CollectorRegistry()))
    first = FakeProducer()
    made: list[FakeProducer] = []
    loop._producer = first  # type: ignore[assignment]
    monkeypatch.setattr(loop, "_new_producer", lambda: made.append(FakeProducer()) or made[-1])
    return loop, first, made


def test_a_batch_refused_for_a_lost_generation_is_aborted_and_recovered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, first, made = _loop(monkeypatch)
    loop._abort(KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "lost",
                                          txn_requires_abort=True)), None)
    assert (first.aborted, made, loop._needs_recovery) == (1, [], True)


def test_a_fenced_producer_stops_the_loop_without_a_new_producer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, first, made = _loop(monkeypatch)
    with pytest.raises(KafkaException):
        loop._abort(KafkaException(KafkaError(KafkaError._FENCED, "fenced", fatal=True)), None)
    assert (first.aborted, made) == (0, [])


def test_a_producer_failed_for_good_otherwise_is_replaced_and_the_loop_recovers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, first, made = _loop(monkeypatch)
    loop._abort(KafkaException(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "gap",
                                          fatal=True)), None)
    assert (first.purged, len(made), loop._needs_recovery) == (1, 1, True)
    assert loop._producer is made[0]  # type: ignore[comparison-overlap]
