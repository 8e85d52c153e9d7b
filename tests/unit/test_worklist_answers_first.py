"""The worklist's projection writes a batch's answers before the records after them
(services.worklist.consumer.answers_first): a request waiting for the engine's answer does
not wait for the USER_TASK_CREATED inserts a burst put behind it in the same batch."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME, TopicPartition
from prometheus_client import CollectorRegistry

from laneway.codec import encode_record
from laneway.consuming import Consumed
from laneway.kafka import RenewingProducer
from laneway.records import Command, Event, Principal, PrincipalKind, Record, RecordKind
from services.worklist.consumer import SPLIT_AFTER_ANSWERS, TaskConsumer, answers_first
from services.worklist.metrics import WorklistMetrics

ENGINE = Principal(PrincipalKind.SYSTEM, "engine")
TOPIC = "wl.events"


def _record(intent: str, iid: str, value: dict[str, Any], *,
            kind: RecordKind = RecordKind.EVENT, record_id: str | None = None) -> Record:
    return Record(record_id=record_id or f"{uuid.uuid4()}.0", kind=kind, intent=intent,
                  instance_id=iid, timestamp=int(time.time() * 1000), value=value,
                  element_id="review", element_type="userTask", principal=ENGINE)


def _created(iid: str) -> Record:
    return _record(Event.USER_TASK_CREATED.value, iid, {"key": 7, "processId": "p",
                                                        "version": 1})


def _completed(iid: str, command_id: str) -> Record:
    return _record(Event.USER_TASK_COMPLETED.value, iid, {"key": 7, "variables": {}},
                   record_id=f"{command_id}.0")


def _rejected(iid: str, command_id: str) -> Record:
    return _record(Command.CLAIM_USER_TASK.value, iid,
                   {"reason": "no", "rejectionType": "INVALID_STATE",
                    "command": {"taskKey": 7}},
                   kind=RecordKind.REJECTION, record_id=f"{command_id}.r0")


class _Message:
    def __init__(self, record: Record, partition: int, offset: int) -> None:
        self._value = encode_record(record)
        self._partition, self._offset = partition, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, int(time.time() * 1000)


class _Connection:
    """Records which task ids and answered command ids each transaction wrote."""

    broken = False
    closed = False

    def __init__(self, log: list[Any]) -> None:
        self.log = log
        self.transactions: list[list[str]] = []
        self._current: list[str] | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._current = []
        yield
        self.transactions.append(self._current)
        self.log.append(("commit", len(self.transactions)))
        self._current = None

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[None]:
        yield

    def execute(self, query: Any, params: Any = None) -> None:
        assert self._current is not None, "a write outside a transaction"
        if isinstance(params, dict) and "task_id" in params:
            self._current.append(f"task {params['task_id']}")
        elif isinstance(params, tuple) and len(params) == 8:
            self._current.append(f"answer {params[0]}")


class _Consumer:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.log.append(("offsets", sorted((tp.partition, tp.offset) for tp in offsets)))


class _Producer:
    def flush(self, timeout: float) -> int:
        return 0


def _consumer(log: list[Any]) -> tuple[TaskConsumer, _Connection]:
    conn = _Connection(log)
    loop = TaskConsumer(_Consumer(log), RenewingProducer(None, _Producer()),  # type: ignore[arg-type]
                        lambda: conn,  # type: ignore[arg-type,return-value]
                        events_topic=TOPIC, dlq_topic="wl.dlq",
                        metrics=WorklistMetrics(CollectorRegistry()))
    return loop, conn


def _polled(record: Record, partition: int, offset: int) -> Consumed[Record]:
    return Consumed(record, _Message(record, partition, offset), TOPIC,  # type: ignore[arg-type]
                    partition, offset)


def test_each_partition_goes_first_up_to_its_last_answer_in_its_own_order() -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    items = [_polled(_created(a), 0, 10), _polled(_created(b), 1, 20),
             _polled(_completed(a, "cmd-a"), 0, 11), _polled(_created(c), 0, 12),
             _polled(_created(b), 1, 21), _polled(_rejected(b, "cmd-b"), 1, 22),
             _polled(_created(c), 2, 30), _polled(_created(a), 0, 13)]

    first, rest = answers_first(items)

    assert [(p.partition, p.offset) for p in first] == [(0, 10), (1, 20), (0, 11), (1, 21),
                                                        (1, 22)]
    assert [(p.partition, p.offset) for p in rest] == [(0, 12), (2, 30), (0, 13)]


def test_a_batch_without_answers_is_all_rest() -> None:
    items = [_polled(_created(str(uuid.uuid4())), 0, n) for n in range(3)]

    assert answers_first(items) == ([], items)


def test_the_answers_transaction_commits_before_the_burst_behind_it_and_offsets_after_both(
        ) -> None:
    log: list[Any] = []
    loop, conn = _consumer(log)
    answered = str(uuid.uuid4())
    behind = [str(uuid.uuid4()) for _ in range(SPLIT_AFTER_ANSWERS)]
    messages = [_Message(_created(answered), 0, 0), _Message(_completed(answered, "cmd"), 0, 1),
                *(_Message(_created(iid), 0, 2 + n) for n, iid in enumerate(behind))]

    written = loop.handle_messages(messages)  # type: ignore[arg-type]

    assert written == len(messages)
    assert conn.transactions == [
        [f"task {answered}:7", f"task {answered}:7", "answer cmd"],
        [f"task {iid}:7" for iid in behind]]
    # the offsets only once both are committed: a crash between them reads all again
    assert log == [("commit", 1), ("commit", 2), ("offsets", [(0, len(messages))])]


def test_a_short_rest_stays_in_the_answers_transaction() -> None:
    log: list[Any] = []
    loop, conn = _consumer(log)
    answered = str(uuid.uuid4())
    behind = [str(uuid.uuid4()) for _ in range(SPLIT_AFTER_ANSWERS - 1)]
    messages = [_Message(_completed(answered, "cmd"), 0, 0),
                *(_Message(_created(iid), 0, 1 + n) for n, iid in enumerate(behind))]

    loop.handle_messages(messages)  # type: ignore[arg-type]

    assert len(conn.transactions) == 1
    assert log[-1] == ("offsets", [(0, len(messages))])
